/** Test support: bundle this package into one ESM file so separate Node processes can load it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

/** Bundles src/index.ts (core from source) to `<dir>/ipam.mjs` with the esbuild that tsup ships. */
export async function bundleIpam(dir: string): Promise<string> {
  const require = createRequire(import.meta.url);
  const esbuild = createRequire(require.resolve('tsup'))('esbuild') as {
    build(options: Record<string, unknown>): Promise<unknown>;
  };
  const outfile = join(dir, 'ipam.mjs');
  await esbuild.build({
    entryPoints: [join(here, 'index.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    alias: { '@podnet/core': join(here, '../../core/src/index.ts') },
    logLevel: 'silent',
  });
  return outfile;
}

/**
 * A worker: `burst DATADIR NETWORK SUBNET PREFIX COUNT` allocates COUNT addresses and prints
 * `+ ID ADDRESS` for each; `loop ...` allocates forever, releasing every other one, printing
 * `+ ID ADDRESS` and `- ID` after each completed operation.
 */
export async function writeWorker(dir: string): Promise<string> {
  const path = join(dir, 'worker.mjs');
  await writeFile(
    path,
    `import { hostLocal } from './ipam.mjs';
const [mode, dataDir, network, subnet, prefix, count] = process.argv.slice(2);
const ipam = hostLocal({ store: 'file', dataDir, network, ranges: [[{ subnet }]], lockTimeoutMs: 60000 });
const out = (line) => new Promise((r) => process.stdout.write(line + '\\n', r));
for (let i = 0; mode === 'loop' || i < Number(count); i++) {
  const id = prefix + '-' + i;
  const [a] = await ipam.allocate({ containerId: id, ifname: 'eth0' });
  await out('+ ' + id + ' ' + a.address);
  if (mode === 'loop' && i % 2 === 1) {
    await ipam.release(prefix + '-' + (i - 1), 'eth0');
    await out('- ' + prefix + '-' + (i - 1));
  }
}
`,
  );
  return path;
}

export interface Worker {
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function startWorker(script: string, args: string[]): Worker {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, lines, exited };
}
