/**
 * The linux backend: `linux({ clusterName }).apply(plan, { apps })` realizes a ClusterDataplane
 * in network namespaces of this host, and the lifecycle functions the CLI needs (`up`, `exec`,
 * `status`, `down`, `listClusters`) work from the cluster's state directory, so they also work
 * from another process than the one that brought the cluster up.
 *
 * One apply: validate and flatten the plan → preflight → lock → stop apps that go away → read the
 * kernel back → diff (reconcile.ts) → record the namespaces in state.json → delete, create,
 * correct → rule texts → apps → record the plan. A failed first apply removes everything; a
 * failed update re-applies the previous plan.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { removeResolvConfs, syncResolvConfs } from './resolv-conf.js';
import { join } from 'node:path';
import {
  type ApplyOptions,
  type AppRegistry,
  type Backend,
  type ClusterDataplane,
  type FeatureCheck,
  type Network,
  NotFoundError,
  PodnetError,
  SPECIFICATION_VERSION,
} from '@podnet/core';
import {
  type AppSpec,
  buildAppSpecs,
  checkApps,
  defaultResolveEntry,
  defaultRunnerDir,
  ensureSupervisor,
  markedProcesses,
  publishApps,
  readSupervisorStatus,
  type SupervisedApp,
  supervisorAlive,
  waitForApps,
} from './apps.js';
import { executeCommands } from './commands.js';
import { type FlatPlan, flattenPlan, type NetnsEntry } from './flatten.js';
import { applyRules, NO_RULES } from './netfilter.js';
import { checkClusterName, clusterMarker, clusterPrefix } from './names.js';
import { listNetns, type ObservedNetns, observeNetns, readSysctls } from './observe.js';
import { assertFeatures, preflight } from './preflight.js';
import { reconcile } from './reconcile.js';
import { parallel, run } from './run.js';
import {
  acquireLock,
  type ClusterStateFile,
  clusterDir,
  pidAlive,
  readJson,
  readState,
  STATE_VERSION,
  writeState,
} from './state.js';
import { ensureTunAddon } from './tun-addon.js';

/** Where state directories live unless told otherwise (tmpfs: gone at reboot, like the namespaces). */
export const DEFAULT_STATE_DIR = '/run/podnet';

export interface LinuxBackendOptions {
  /** Names the namespaces (`pn-<name>.`) and the state directory; 1-32 of a-z, 0-9, inner `-`. */
  clusterName: string;
  /** Root of the per-cluster state directories. @default '/run/podnet' */
  stateDir?: string;
  /** Maps an AppModule `entry` to a URL the app runner can import. @default defaultResolveEntry */
  resolveEntry?: (entry: string, appId: string) => string;
  /** Time every app gets to start serving, ms. @default 20000 */
  appReadyTimeoutMs?: number;
  /** Directory holding supervisor.mjs and app-runner.mjs. @default the package's `runner/` */
  runnerDir?: string;
  /** Directory holding the TUN helper's binding.gyp and tun.c. @default the package's `native/` */
  nativeDir?: string;
}

export interface UpOptions extends LinuxBackendOptions, ApplyOptions {}

export interface ClusterLocation {
  /** @default '/run/podnet' */
  stateDir?: string;
}

export interface AppStatus extends Partial<SupervisedApp> {
  key: string;
  node: string;
  name: string;
  app: string;
  netns: string;
}

export interface ClusterStatus {
  cluster: string;
  prefix: string;
  /** The cluster's state directory. */
  stateDir: string;
  /** False when neither a state file nor a namespace of the cluster exists. */
  exists: boolean;
  phase?: ClusterStateFile['phase'];
  namespaces: (NetnsEntry & { exists: boolean })[];
  /** Namespaces with the cluster's prefix that the plan does not name (left by a crash). */
  strayNamespaces: string[];
  supervisor?: { pid: number; alive: boolean };
  apps: AppStatus[];
}

export interface DownReport {
  namespaces: string[];
  processes: number;
}

export interface LinuxNetwork extends Network {
  readonly clusterName: string;
  readonly prefix: string;
  /** The cluster's state directory. */
  readonly dir: string;
  /** Kernel name of a namespace: `NS/POD`, `node/NAME`, `fabric`, or a fabric host/router name (`external`). */
  netns(target: string): string;
  status(): Promise<ClusterStatus>;
  /** Runs argv in a namespace (stdio inherited unless told); resolves to the exit code. */
  exec(target: string, argv: readonly string[], options?: ExecOptions): Promise<number>;
}

export interface ExecOptions extends ClusterLocation {
  /** @default 'inherit' */
  stdio?: 'inherit' | 'ignore';
}

const ROOT = (o?: ClusterLocation) => o?.stateDir ?? DEFAULT_STATE_DIR;

export function linux(options: LinuxBackendOptions): Backend<LinuxNetwork> {
  const cluster = checkClusterName(options.clusterName);
  const stateRoot = options.stateDir ?? DEFAULT_STATE_DIR;
  return {
    specificationVersion: SPECIFICATION_VERSION,
    name: 'linux',
    preflight: (plan) => preflight(plan, { stateRoot, nativeDir: options.nativeDir }),
    async apply(plan, applyOptions = {}) {
      await applyPlan(plan, options, applyOptions);
      return network(cluster, options, applyOptions, plan);
    },
  };
}

/** Brings the cluster to `plan` (creating it, or applying the difference) and returns it. */
export async function up(plan: ClusterDataplane, options: UpOptions): Promise<LinuxNetwork> {
  return linux(options).apply(plan, options);
}

function network(
  cluster: string,
  options: LinuxBackendOptions,
  applyOptions: ApplyOptions,
  initial: ClusterDataplane,
): LinuxNetwork {
  let plan = initial;
  const loc = { stateDir: options.stateDir };
  return {
    clusterName: cluster,
    prefix: clusterPrefix(cluster),
    dir: clusterDir(ROOT(loc), cluster),
    get plan() {
      return plan;
    },
    async update(next) {
      await applyPlan(next, options, applyOptions);
      plan = next;
    },
    async destroy() {
      await down(cluster, loc);
    },
    netns: (target) => resolveTarget(cluster, target, loc),
    status: () => status(cluster, loc),
    exec: (target, argv, o) => exec(cluster, target, argv, { ...loc, ...o }),
  };
}

// ---- apply

async function applyPlan(
  plan: ClusterDataplane,
  options: LinuxBackendOptions,
  apply: ApplyOptions,
): Promise<void> {
  const cluster = checkClusterName(options.clusterName);
  const prefix = clusterPrefix(cluster);
  const stateRoot = options.stateDir ?? DEFAULT_STATE_DIR;
  const dir = clusterDir(stateRoot, cluster);
  const progress = apply.onProgress ?? (() => undefined);
  const flat = flattenPlan(plan, prefix);
  const registry: AppRegistry = apply.apps ?? new Map();
  const resolveEntry = options.resolveEntry ?? defaultResolveEntry;
  checkApps(flat.apps, { registry, resolveEntry });
  progress('preflight');
  assertFeatures(await preflight(plan, { stateRoot, nativeDir: options.nativeDir }));

  const release = acquireLock(dir, cluster);
  try {
    const prior = readState(dir);
    const previous = prior?.plan ? flattenPlan(prior.plan, prefix) : undefined;
    const state: ClusterStateFile = prior ?? {
      version: STATE_VERSION,
      cluster,
      prefix,
      phase: 'applying',
      namespaces: [],
      rules: {},
      appsGeneration: 0,
      updatedAt: '',
    };
    const ctx: Ctx = {
      cluster,
      prefix,
      dir,
      stateRoot,
      marker: clusterMarker(cluster),
      registry,
      resolveEntry,
      options,
      progress,
      state,
    };
    try {
      await converge(ctx, flat, previous);
      syncResolvConfs(plan, flat, prefix);
      state.plan = plan;
      state.phase = 'ready';
      writeState(dir, state);
      progress('ready');
    } catch (e) {
      if (!previous) {
        progress('rolling back');
        release();
        await down(cluster, { stateDir: stateRoot });
        throw e;
      }
      progress('restoring the previous plan');
      try {
        await converge(ctx, previous, flat);
        state.phase = 'ready';
      } catch {
        state.phase = 'failed';
      }
      writeState(dir, state);
      throw e;
    }
  } finally {
    release();
  }
}

interface Ctx {
  cluster: string;
  prefix: string;
  dir: string;
  stateRoot: string;
  marker: string;
  registry: AppRegistry;
  resolveEntry: (entry: string, appId: string) => string;
  options: LinuxBackendOptions;
  progress: (step: string) => void;
  state: ClusterStateFile;
}

async function converge(ctx: Ctx, flat: FlatPlan, previous: FlatPlan | undefined): Promise<void> {
  const { dir, state, progress } = ctx;
  state.phase = 'applying';
  writeState(dir, state);
  const tunAddon = flat.apps.some((a) => a.tuns.length > 0)
    ? await ensureTunAddon(ctx.stateRoot, ctx.options.nativeDir)
    : undefined;
  const specs = buildAppSpecs(flat.apps, {
    dir,
    marker: ctx.marker,
    registry: ctx.registry,
    resolveEntry: ctx.resolveEntry,
    runnerDir: ctx.options.runnerDir ?? defaultRunnerDir(),
    tunAddon,
  });

  // Apps that go away or change stop before their network does.
  await retireApps(ctx, specs);

  progress('reading the kernel state');
  const existing = new Set(await listNetns(ctx.prefix));
  const wanted = new Set<string>();
  for (const p of [flat, previous])
    for (const n of p?.namespaces ?? []) if (existing.has(n.kernel)) wanted.add(n.kernel);
  const observed = new Map<string, ObservedNetns>();
  const sysctls = new Map<string, Map<string, string | undefined>>();
  await parallel([...wanted], 4, async (ns) => {
    observed.set(ns, await observeNetns(ns));
    const keys = flat.dataplane.sysctls.filter((s) => s.netns === ns).map((s) => s.key);
    sysctls.set(ns, await readSysctls(ns, keys));
  });
  const r = reconcile(flat.dataplane, previous?.dataplane, {
    namespaces: existing,
    netns: observed,
    sysctls,
  });
  progress(`plan: ${r.remove.length} to remove, ${r.add.length} to create or correct`);

  for (const ns of r.deletedNamespaces) await killNetnsProcesses(ns);
  state.namespaces = [...new Set([...state.namespaces, ...flat.namespaces.map((n) => n.kernel)])];
  writeState(dir, state);

  if (r.remove.length > 0) {
    progress(`removing (${r.remove.length})`);
    await executeCommands(r.remove, { force: true, reverse: true });
  }
  await executeCommands(r.add, { onPhase: (phase, n) => progress(`${phase} (${n})`) });
  const gone = new Set(r.deletedNamespaces);
  state.namespaces = state.namespaces.filter((n) => !gone.has(n));
  writeState(dir, state);

  for (const ns of new Set([...Object.keys(state.rules), ...flat.netfilter.map((n) => n.netns)])) {
    const next = flat.netfilter.find((n) => n.netns === ns);
    if (gone.has(ns) || (!next && !existing.has(ns))) {
      delete state.rules[ns];
      continue;
    }
    const { applied, changed } = await applyRules(ns, next, state.rules[ns] ?? NO_RULES);
    if (changed.length > 0) progress(`rules in ${ns}: ${changed.join(', ')}`);
    if (next) state.rules[ns] = applied;
    else delete state.rules[ns];
    writeState(dir, state);
  }

  await startApps(ctx, specs);
}

function currentSpecs(dir: string): Map<string, string> {
  const doc = readJson<{ apps: { key: string; hash: string }[] }>(join(dir, 'apps.json'));
  return new Map((doc?.apps ?? []).map((a) => [a.key, a.hash]));
}

async function retireApps(ctx: Ctx, specs: readonly AppSpec[]): Promise<void> {
  const pid = ctx.state.supervisor?.pid;
  if (!supervisorAlive(pid, ctx.marker)) return;
  const current = currentSpecs(ctx.dir);
  const kept = specs.filter((s) => current.get(s.key) === s.hash);
  if (kept.length === current.size) return;
  ctx.progress(`stopping apps (${current.size - kept.length})`);
  const generation = ++ctx.state.appsGeneration;
  writeState(ctx.dir, ctx.state);
  publishApps(ctx.dir, generation, kept, pid);
  await waitForApps(ctx.dir, generation, kept, ctx.options.appReadyTimeoutMs ?? 20_000);
}

async function startApps(ctx: Ctx, specs: readonly AppSpec[]): Promise<void> {
  const alive = supervisorAlive(ctx.state.supervisor?.pid, ctx.marker);
  if (specs.length === 0 && !alive) return;
  const current = currentSpecs(ctx.dir);
  if (alive && specs.length === current.size && specs.every((s) => current.get(s.key) === s.hash)) {
    await waitForApps(ctx.dir, ctx.state.appsGeneration, specs, ctx.options.appReadyTimeoutMs ?? 20_000);
    return;
  }
  ctx.progress(`starting apps (${specs.length})`);
  const generation = ++ctx.state.appsGeneration;
  writeState(ctx.dir, ctx.state);
  publishApps(ctx.dir, generation, specs);
  const sup = await ensureSupervisor(
    ctx.dir,
    ctx.marker,
    ctx.options.runnerDir ?? defaultRunnerDir(),
    ctx.state.supervisor?.pid,
  );
  ctx.state.supervisor = { pid: sup.pid };
  writeState(ctx.dir, ctx.state);
  if (sup.started) ctx.progress(`supervisor ${sup.pid} started`);
  if (!sup.started) process.kill(sup.pid, 'SIGHUP');
  await waitForApps(ctx.dir, generation, specs, ctx.options.appReadyTimeoutMs ?? 20_000);
}

// ---- teardown

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pids: readonly number[], ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  let left = pids.filter(pidAlive);
  while (left.length > 0 && Date.now() < until) {
    await sleep(25);
    left = left.filter(pidAlive);
  }
  return left;
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  }
}

async function killNetnsProcesses(ns: string): Promise<number> {
  const r = await run(['ip', 'netns', 'pids', ns], { allowFailure: true });
  const pids = r.stdout
    .split(/\s+/)
    .filter((x) => /^\d+$/.test(x))
    .map(Number)
    .filter((p) => p !== process.pid);
  if (pids.length === 0) return 0;
  signal(pids, 'SIGTERM');
  signal(await waitGone(pids, 1000), 'SIGKILL');
  await waitGone(pids, 1000);
  return pids.length;
}

/**
 * Removes everything the cluster made: its processes (the supervisor, every process carrying the
 * cluster marker, every process left inside its namespaces), its namespaces (from state.json and
 * by prefix) and its state directory. Works after a crash or `kill -9` of `up`; idempotent.
 */
export async function down(cluster: string, options: ClusterLocation = {}): Promise<DownReport> {
  checkClusterName(cluster);
  const prefix = clusterPrefix(cluster);
  const marker = clusterMarker(cluster);
  const dir = clusterDir(ROOT(options), cluster);
  let state: ClusterStateFile | undefined;
  try {
    state = readState(dir);
  } catch {
    state = undefined;
  }
  let processes = 0;
  const sup = state?.supervisor?.pid;
  if (supervisorAlive(sup, marker)) {
    signal([sup!], 'SIGTERM');
    if ((await waitGone([sup!], 5000)).length > 0) signal([sup!], 'SIGKILL');
    processes++;
  }
  const marked = markedProcesses(marker);
  if (marked.length > 0) {
    signal(marked, 'SIGTERM');
    signal(await waitGone(marked, 1500), 'SIGKILL');
    await waitGone(marked, 1000);
    processes += marked.length;
  }
  const namespaces = [...new Set([...(state?.namespaces ?? []), ...(await listNetns(prefix))])].filter((n) =>
    n.startsWith(prefix),
  );
  const existing = new Set(await listNetns(prefix));
  const removed: string[] = [];
  for (const ns of namespaces) {
    if (!existing.has(ns)) continue;
    processes += await killNetnsProcesses(ns);
    removed.push(ns);
  }
  if (removed.length > 0)
    await executeCommands(
      removed.map((n) => `ip netns del ${n}`),
      { force: true },
    );
  const left = await listNetns(prefix);
  if (left.length > 0)
    throw new PodnetError(
      'PODNET_BACKEND',
      `cluster ${cluster}: could not delete namespaces ${left.join(', ')}`,
    );
  removeResolvConfs(prefix);
  rmSync(dir, { recursive: true, force: true });
  return { namespaces: removed.sort(), processes };
}

// ---- status, exec, list

function entriesOf(state: ClusterStateFile | undefined, prefix: string): NetnsEntry[] {
  if (!state?.plan) return [];
  return flattenPlan(state.plan, prefix).namespaces;
}

export async function status(cluster: string, options: ClusterLocation = {}): Promise<ClusterStatus> {
  checkClusterName(cluster);
  const prefix = clusterPrefix(cluster);
  const dir = clusterDir(ROOT(options), cluster);
  const state = readState(dir);
  const existing = new Set(await listNetns(prefix));
  const entries = entriesOf(state, prefix);
  const named = new Set(entries.map((e) => e.kernel));
  const sup = readSupervisorStatus(dir);
  const apps: AppStatus[] = [];
  if (state?.plan) {
    for (const a of flattenPlan(state.plan, prefix).apps) {
      const st = sup?.apps[a.key];
      apps.push({
        key: a.key,
        node: a.node,
        name: a.instance.name,
        app: a.instance.app,
        ...(st ?? {}),
        netns: a.netns,
      });
    }
  }
  const pid = state?.supervisor?.pid;
  return {
    cluster,
    prefix,
    stateDir: dir,
    exists: state !== undefined || existing.size > 0,
    ...(state ? { phase: state.phase } : {}),
    namespaces: entries.map((e) => ({ ...e, exists: existing.has(e.kernel) })),
    strayNamespaces: [...existing].filter((n) => !named.has(n)).sort(),
    ...(pid ? { supervisor: { pid, alive: supervisorAlive(pid, clusterMarker(cluster)) } } : {}),
    apps,
  };
}

/** Kernel namespace of `target` (`NS/POD`, `node/NAME`, `fabric`, a router or fabric host name). */
export function resolveTarget(cluster: string, target: string, options: ClusterLocation = {}): string {
  const prefix = clusterPrefix(cluster);
  const state = readState(clusterDir(ROOT(options), cluster));
  if (!state?.plan)
    throw new NotFoundError(
      `cluster ${cluster} is not up (no state in ${clusterDir(ROOT(options), cluster)})`,
    );
  const flat = flattenPlan(state.plan, prefix);
  const found = findTarget(flat, target);
  if (!found) {
    throw new NotFoundError(
      `cluster ${cluster}: no namespace for "${target}" (use NAMESPACE/POD, node/NAME, fabric, or one of ${flat.namespaces
        .filter((e) => e.role === 'router' || e.role === 'host')
        .map((e) => e.owner)
        .join(', ')})`,
    );
  }
  return found;
}

function findTarget(flat: FlatPlan, target: string): string | undefined {
  const ns = flat.namespaces;
  if (target === 'fabric') return ns.find((e) => e.role === 'fabric')?.kernel;
  if (target.startsWith('node/'))
    return ns.find((e) => e.role === 'node' && e.owner === target.slice(5))?.kernel;
  if (target.includes('/')) {
    const pod = ns.find((e) => e.role === 'pod' && e.logical === target)?.kernel;
    if (pod) return pod;
    // A hostNetwork pod lives in its node's namespace.
    return flat.apps.find(
      (a) => a.instance.pod && `${a.instance.pod.namespace}/${a.instance.pod.name}` === target,
    )?.netns;
  }
  return ns.find((e) => (e.role === 'router' || e.role === 'host') && e.owner === target)?.kernel;
}

/** Runs `argv` inside the namespace of `target`; resolves to the exit code (128 + n for a signal). */
export async function exec(
  cluster: string,
  target: string,
  argv: readonly string[],
  options: ExecOptions = {},
): Promise<number> {
  if (argv.length === 0) throw new PodnetError('PODNET_INVALID_ARGUMENT', 'exec: no command given');
  const ns = resolveTarget(cluster, target, options);
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: options.stdio ?? 'inherit' });
    child.on('error', (e) =>
      reject(new PodnetError('PODNET_BACKEND', `exec in ${ns}: ${e.message}`, { cause: e })),
    );
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? osSignal(sig) : 0)));
  });
}

function osSignal(sig: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGTERM: 15,
    SIGPIPE: 13,
  };
  return table[sig] ?? 0;
}

/** Clusters with a state directory under `stateDir` or a namespace on this host. */
export async function listClusters(options: ClusterLocation = {}): Promise<string[]> {
  const root = ROOT(options);
  const names = new Set<string>();
  if (existsSync(root)) {
    for (const d of readdirSync(root)) if (existsSync(join(root, d, 'state.json'))) names.add(d);
  }
  for (const ns of await listNetns('pn-')) {
    const m = /^pn-([a-z0-9-]+)\./.exec(ns);
    if (m) names.add(m[1]);
  }
  return [...names].sort();
}

export type { FeatureCheck };
