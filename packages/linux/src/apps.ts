/**
 * Apps as processes: each app instance of the plan becomes a spec the supervisor runs as
 * `ip netns exec NETNS node runner/app-runner.mjs ... ENTRY APP_ID CONFIG READY` (a workload
 * with a container `command` runs that command instead). The supervisor (runner/supervisor.mjs)
 * is one detached process per cluster; both carry the cluster marker in their argv.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type AppRegistry,
  FeatureMissingError,
  NotFoundError,
  PodnetError,
  type WorkloadConfig,
} from '@podnet/core';
import type { FlatApp } from './flatten.js';
import { pidAlive, readJson, writeJsonAtomic } from './state.js';

export interface AppSpec {
  key: string;
  node: string;
  name: string;
  app: string;
  netns: string;
  argv: string[];
  log: string;
  /** The file the runner writes when the app serves; null: ready once started (a container command). */
  ready: string | null;
  hash: string;
}

export interface SupervisedApp {
  pid: number | null;
  state: 'starting' | 'ready' | 'running' | 'backoff' | 'stopped';
  restarts: number;
  endpoints: string[];
  lastExit: string | null;
  netns: string;
  log: string;
  since: string;
}

export interface SupervisorStatus {
  pid: number;
  generation: number;
  updatedAt: string;
  apps: Record<string, SupervisedApp>;
}

/** The package's `runner/` directory (next to `src/` and `dist/`). */
export function defaultRunnerDir(): string {
  return fileURLToPath(new URL('../runner/', import.meta.url));
}

export interface AppContext {
  dir: string;
  marker: string;
  registry: AppRegistry;
  resolveEntry: (entry: string, appId: string) => string;
  runnerDir: string;
  /** Path of the TUN helper addon, when a plan app owns a TUN. */
  tunAddon?: string;
}

function safeName(key: string): string {
  const h = createHash('sha256').update(key).digest('hex').slice(0, 8);
  return `${key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80)}-${h}`;
}

/** Checks every app can be started (module, entry) before anything is created. */
export function checkApps(
  apps: readonly FlatApp[],
  ctx: Pick<AppContext, 'registry' | 'resolveEntry'>,
): void {
  for (const a of apps) entryOf(a, ctx);
}

function entryOf(a: FlatApp, ctx: Pick<AppContext, 'registry' | 'resolveEntry'>): string | undefined {
  const inst = a.instance;
  if (inst.app === 'workload' && Array.isArray((inst.config as WorkloadConfig | undefined)?.command))
    return undefined;
  const mod = ctx.registry.get(inst.app);
  if (!mod) {
    throw new NotFoundError(
      `node ${a.node}: app ${inst.name} needs app module "${inst.app}", which is not in the app registry (apps)` +
        (inst.app === 'workload' ? '; pass the built-in workload app (workloadApp of @podnet/emulator)' : ''),
    );
  }
  if (!mod.entry) {
    throw new FeatureMissingError(
      `app:${inst.app}`,
      `app module "${inst.app}" has no \`entry\` (an importable module specifier), so it cannot run as a process in a namespace`,
    );
  }
  return ctx.resolveEntry(mod.entry, inst.app);
}

/** Specs for the supervisor; writes each app's config file under `dir/apps/`. */
export function buildAppSpecs(apps: readonly FlatApp[], ctx: AppContext): AppSpec[] {
  mkdirSync(join(ctx.dir, 'apps'), { recursive: true });
  mkdirSync(join(ctx.dir, 'logs'), { recursive: true });
  mkdirSync(join(ctx.dir, 'run'), { recursive: true });
  return apps.map((a) => {
    const inst = a.instance;
    const safe = safeName(a.key);
    const log = join(ctx.dir, 'logs', `${safe}.log`);
    const entry = entryOf(a, ctx);
    let argv: string[];
    let ready: string | null = null;
    if (entry === undefined) {
      argv = [...(inst.config as WorkloadConfig).command!];
    } else {
      const configFile = join(ctx.dir, 'apps', `${safe}.json`);
      writeJsonAtomic(configFile, inst.config ?? {});
      ready = join(ctx.dir, 'run', `${safe}.ready`);
      const tunFlags: string[] = [];
      if (a.tuns.length > 0) {
        if (!ctx.tunAddon)
          throw new FeatureMissingError(
            'tun',
            `app ${inst.name} owns TUN ${a.tuns[0].name}, but the TUN helper addon is not available`,
          );
        tunFlags.push(...a.tuns.map((t) => `--tun=${t.name}`), `--tun-addon=${ctx.tunAddon}`);
      }
      argv = [
        process.execPath,
        join(ctx.runnerDir, 'app-runner.mjs'),
        ctx.marker,
        `--app=${a.key}`,
        ...tunFlags,
        entry,
        inst.app,
        configFile,
        ready,
      ];
    }
    const hash = createHash('sha256')
      .update(JSON.stringify({ netns: a.netns, argv, config: inst.config ?? null }))
      .digest('hex')
      .slice(0, 16);
    return {
      key: a.key,
      node: a.node,
      name: inst.name,
      app: inst.app,
      netns: a.netns,
      argv,
      log,
      ready,
      hash,
    };
  });
}

// ---- entry resolution

/**
 * Resolves an AppModule `entry` to a file URL: file URLs and absolute paths as they are, else
 * Node's resolution from this package, else `node_modules` lookup (package `exports`, `import`
 * or `default` condition) upward from the working directory and from the main script.
 */
export function defaultResolveEntry(entry: string, appId: string): string {
  if (entry.startsWith('file:')) return entry;
  if (isAbsolute(entry)) return pathToFileURL(entry).href;
  const meta = import.meta as ImportMeta & { resolve?: (s: string) => string };
  if (typeof meta.resolve === 'function') {
    try {
      const url = meta.resolve(entry);
      if (url.startsWith('file:')) return url;
    } catch {
      // not resolvable from here: try the node_modules of the caller below
    }
  }
  const bases = [process.cwd(), process.argv[1] ? dirname(process.argv[1]) : undefined].filter(
    (b): b is string => !!b,
  );
  for (const base of bases) {
    const found = resolveFrom(entry, base);
    if (found) return pathToFileURL(found).href;
  }
  throw new FeatureMissingError(
    `app:${appId}`,
    `cannot resolve entry "${entry}" of app module "${appId}" (from this package, ${bases.join(', ')}); pass resolveEntry or an absolute entry`,
  );
}

function resolveFrom(spec: string, base: string): string | undefined {
  const parts = spec.split('/');
  const pkg = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const sub = `.${spec.slice(pkg.length)}`;
  for (let dir = base; ; dir = dirname(dir)) {
    const pj = join(dir, 'node_modules', pkg, 'package.json');
    if (existsSync(pj)) {
      const target = exportTarget(JSON.parse(readFileSync(pj, 'utf8')), sub === '.' ? '.' : sub);
      if (target) return join(dirname(pj), target);
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function exportTarget(
  pj: { exports?: unknown; main?: string; module?: string },
  sub: string,
): string | undefined {
  const pick = (v: unknown): string | undefined => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const c of ['import', 'node', 'default']) if (o[c] !== undefined) return pick(o[c]);
    }
    return undefined;
  };
  if (pj.exports !== undefined) {
    const ex = pj.exports as Record<string, unknown>;
    if (typeof ex === 'string' || !Object.keys(ex).some((k) => k.startsWith('.')))
      return sub === '.' ? pick(ex) : undefined;
    return pick(ex[sub]);
  }
  return sub === '.' ? (pj.module ?? pj.main ?? 'index.js') : sub;
}

// ---- the supervisor

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Pids of live processes whose argv holds `marker` as one element. */
export function markedProcesses(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid !== process.pid && cmdline(pid).includes(marker)) out.push(pid);
  }
  return out;
}

export function supervisorAlive(pid: number | undefined, marker: string): boolean {
  if (!pid || !pidAlive(pid)) return false;
  const argv = cmdline(pid);
  return argv.includes(marker) && argv.some((a) => a.endsWith('supervisor.mjs'));
}

export function readSupervisorStatus(dir: string): SupervisorStatus | undefined {
  try {
    return readJson<SupervisorStatus>(join(dir, 'supervisor.json'));
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the cluster's supervisor (detached) unless it runs; resolves once it has loaded apps.json. */
export async function ensureSupervisor(
  dir: string,
  marker: string,
  runnerDir: string,
  known?: number,
): Promise<{ pid: number; started: boolean }> {
  if (supervisorAlive(known, marker)) return { pid: known!, started: false };
  const fd = openSync(join(dir, 'logs', 'supervisor.log'), 'a');
  const child = spawn(process.execPath, [join(runnerDir, 'supervisor.mjs'), marker, dir], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined)
    throw new PodnetError('PODNET_BACKEND', `cannot start the supervisor (${runnerDir}/supervisor.mjs)`);
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (readSupervisorStatus(dir)?.pid === pid) return { pid, started: true };
    if (!pidAlive(pid)) break;
    await sleep(25);
  }
  throw new PodnetError(
    'PODNET_BACKEND',
    `the supervisor did not start; see ${join(dir, 'logs', 'supervisor.log')}`,
  );
}

/** Hands the supervisor a new app set (it stops removed or changed apps and starts new ones). */
export function publishApps(
  dir: string,
  generation: number,
  specs: readonly AppSpec[],
  supervisorPid?: number,
): void {
  writeJsonAtomic(join(dir, 'apps.json'), {
    generation,
    apps: specs.map(({ key, netns, argv, log, ready, hash }) => ({ key, netns, argv, log, ready, hash })),
  });
  if (supervisorPid !== undefined) process.kill(supervisorPid, 'SIGHUP');
}

function tail(path: string, lines = 8): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Waits until the supervisor has taken `generation` and every app in `keys` serves; throws
 * naming the apps that crash repeatedly or do not get ready in time, with their log tails.
 */
export async function waitForApps(
  dir: string,
  generation: number,
  specs: readonly AppSpec[],
  timeoutMs: number,
): Promise<SupervisorStatus> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = readSupervisorStatus(dir);
    if (s && s.generation >= generation) {
      const states = specs.map((spec) => ({ spec, st: s.apps[spec.key] }));
      const crashing = states.filter(({ st }) => st && st.state !== 'ready' && st.restarts >= 2);
      if (crashing.length > 0) {
        throw new PodnetError(
          'PODNET_BACKEND',
          crashing
            .map(
              ({ spec, st }) =>
                `app ${spec.key} keeps exiting (${st!.lastExit}); ${spec.log}:\n${tail(spec.log)}`,
            )
            .join('\n'),
        );
      }
      if (states.every(({ st }) => st && (st.state === 'ready' || st.state === 'running'))) return s;
    }
    if (Date.now() > until) {
      const pending = specs.filter((spec) => {
        const st = s?.apps[spec.key];
        return !st || (st.state !== 'ready' && st.state !== 'running');
      });
      throw new PodnetError(
        'PODNET_BACKEND',
        `apps not ready after ${timeoutMs} ms: ${pending.map((p) => `${p.key} (${s?.apps[p.key]?.state ?? 'not started'}); ${p.log}:\n${tail(p.log)}`).join('\n')}`,
      );
    }
    await sleep(50);
  }
}
