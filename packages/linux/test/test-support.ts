/**
 * Test support for the real-kernel tests: why they skip, app modules bundled into single ESM files
 * (the app runner is a plain Node process, it cannot load TypeScript sources), host snapshots to
 * prove nothing leaks, and a unique state directory.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AppModule } from '@podnet/core';

const here = fileURLToPath(new URL('.', import.meta.url));
export const PACKAGES = join(here, '..', '..');

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

/** Why the real-kernel tests cannot run here ('' when they can). */
export function skipReason(extra: string[] = []): string {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  for (const b of ['ip', 'bridge', 'iptables-restore', ...extra]) if (!has(b)) return `${b} is missing`;
  return '';
}

/** A cluster name no other test run uses. */
export function uniqueCluster(tag: string): string {
  return `t${tag}-${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
}

export function tempStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'podnet-linux-'));
}

/** Bundles `source` (core from source) to `<dir>/<name>.mjs`; returns its file URL. */
export async function bundle(source: string, dir: string, name: string): Promise<string> {
  const require = createRequire(import.meta.url);
  const esbuild = createRequire(require.resolve('tsup'))('esbuild') as { build(o: Record<string, unknown>): Promise<unknown> };
  const outfile = join(dir, `${name}.mjs`);
  await esbuild.build({
    entryPoints: [source],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    alias: { '@podnet/core': join(PACKAGES, 'core/src/index.ts') },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'silent',
  });
  return pathToFileURL(outfile).href;
}

/** An app module whose entry is a bundle of `source`. */
export async function bundledApp<C>(app: AppModule<C>, source: string, dir: string): Promise<AppModule<C>> {
  return { ...app, entry: await bundle(source, dir, app.id) };
}

/** What must be unchanged after a test: the host's links, our namespaces, marked processes. */
export interface HostSnapshot {
  hostLinks: string[];
  namespaces: string[];
  processes: number[];
}

export function snapshot(prefix: string, marker: string): HostSnapshot {
  const links = JSON.parse(spawnSync('ip', ['-j', 'link', 'show']).stdout.toString() || '[]') as { ifname: string }[];
  const ns = JSON.parse(spawnSync('ip', ['-j', 'netns', 'list']).stdout.toString() || '[]') as { name: string }[];
  const processes: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(marker)) processes.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return {
    hostLinks: links.map((l) => l.ifname).sort(),
    namespaces: ns.map((n) => n.name).filter((n) => n.startsWith(prefix)).sort(),
    processes,
  };
}

/** Runs a command inside a namespace, returns stdout (throws on failure). */
export function inNetns(ns: string, argv: string[]): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns exec ${ns} ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
