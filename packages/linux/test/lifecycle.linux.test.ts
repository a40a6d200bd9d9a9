/**
 * Faults and leaks: `kill -9` of an `up` process mid-way (while devices are created, and after the
 * supervisor started) followed by `down`; a failing first apply rolls back; a failing update
 * restores the previous plan; 20 up/down cycles leave no namespace, host link or process behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bridge } from '@podnet/bridge';
import { type AppModule, type ClusterDataplane, composeDataplane, PodnetError } from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { workloadApp } from '@podnet/emulator';
import { vxlan } from '@podnet/overlay-vxlan';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRunnerDir } from '../src/apps.js';
import { down, linux, status } from '../src/linux-backend.js';
import { clusterMarker, clusterPrefix } from '../src/names.js';
import { probe } from '../src/probe.js';
import { bundle, bundledApp, PACKAGES, skipReason, snapshot, tempStateDir, uniqueCluster } from './test-support.js';

const reason = skipReason();
if (reason) console.log(`lifecycle.linux.test.ts: skipped: ${reason}`);

/** Made in beforeAll, so a run that filters every test out leaves nothing behind. */
let stateDir = '';
let workload: AppModule;
let childScript = '';

function plan(nodes: number, podsPerNode: number): ClusterDataplane {
  const names = Array.from({ length: nodes }, (_, i) => `node-${i + 1}`);
  const state = fixtureCluster({
    nodes: names.map((name) => ({ name })),
    pods: names.flatMap((node, i) => Array.from({ length: podsPerNode }, (_, k) => ({ name: `p${i + 1}-${k}`, node, ports: [{ port: 8080 }] }))),
  });
  return composeDataplane(state, { podNetwork: bridge(), overlay: vxlan() });
}

beforeAll(async () => {
  if (reason) return;
  stateDir = tempStateDir();
  workload = await bundledApp(workloadApp, join(PACKAGES, 'emulator/src/workload.ts'), stateDir);
  await bundle(join(PACKAGES, 'linux/src/index.ts'), stateDir, 'linux');
  childScript = join(stateDir, 'up-child.mjs');
  writeFileSync(
    childScript,
    `import { readFileSync } from 'node:fs';
import { up } from './linux.mjs';
const [cluster, stateDir, planFile, entry, runnerDir] = process.argv.slice(2);
const workload = { specificationVersion: 'v1', id: 'workload', entry, emulated() {}, async run() {} };
await up(JSON.parse(readFileSync(planFile, 'utf8')), {
  clusterName: cluster, stateDir, runnerDir, apps: new Map([['workload', workload]]),
  onProgress: (s) => process.stdout.write(s + '\\n'),
});
process.stdout.write('UP-DONE\\n');
`,
  );
});

/** Every cluster a test makes, removed at the end even when an assertion failed half-way. */
const made: string[] = [];
const cluster = (tag: string) => {
  const c = uniqueCluster(tag);
  made.push(c);
  return c;
};

afterAll(async () => {
  for (const c of made) await down(c, { stateDir });
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** Starts `up` in a child process; resolves when a progress line matches `at`, then kill -9. */
function upAndKill(name: string, p: ClusterDataplane, at: RegExp): Promise<{ lines: string[]; killedAt: string }> {
  const planFile = join(stateDir, `${name}.plan.json`);
  writeFileSync(planFile, JSON.stringify(p));
  const child: ChildProcess = spawn(process.execPath, [childScript, name, stateDir, planFile, workload.entry!, defaultRunnerDir()], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let errText = '';
  child.stderr!.on('data', (b: Buffer) => (errText += b.toString()));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (at.test(line) && child.exitCode === null) {
          child.kill('SIGKILL');
          resolve({ lines, killedAt: line });
        }
      }
    });
    child.on('exit', (code, sig) => {
      if (sig !== 'SIGKILL') reject(new Error(`up exited (${code}) before "${at}": ${lines.join(' | ')} ${errText}`));
    });
  });
}

describe.skipIf(reason !== '')('linux backend lifecycle', () => {
  it('down cleans up after kill -9 of up while devices are being created', async () => {
    const c = cluster('k9');
    const before = snapshot(clusterPrefix(c), clusterMarker(c));
    const { lines } = await upAndKill(c, plan(3, 4), /^devices \(/);
    expect(lines).not.toContain('UP-DONE');
    expect(snapshot(clusterPrefix(c), clusterMarker(c)).namespaces.length).toBeGreaterThan(0);
    await down(c, { stateDir });
    expect(snapshot(clusterPrefix(c), clusterMarker(c))).toEqual(before);
  });

  it('down cleans up after kill -9 of up once the supervisor runs', async () => {
    const c = cluster('k9s');
    const before = snapshot(clusterPrefix(c), clusterMarker(c));
    await upAndKill(c, plan(2, 2), /^supervisor \d+ started$/);
    // The supervisor and its apps outlive the killed `up`.
    const until = Date.now() + 5000;
    while (snapshot(clusterPrefix(c), clusterMarker(c)).processes.length < 2 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(snapshot(clusterPrefix(c), clusterMarker(c)).processes.length).toBeGreaterThanOrEqual(2);
    const report = await down(c, { stateDir });
    expect(report.processes).toBeGreaterThanOrEqual(1);
    expect(snapshot(clusterPrefix(c), clusterMarker(c))).toEqual(before);
  });

  it('a first apply that fails half-way rolls back everything it made', async () => {
    const c = cluster('rb');
    const before = snapshot(clusterPrefix(c), clusterMarker(c));
    const bad = plan(2, 1);
    // A gateway the kernel refuses (not on any connected subnet, no onlink): fails in the routes phase.
    bad.nodes[1].routes.push({ netns: 'root', dst: '10.99.0.0/16', family: 4, via: '10.98.0.1', dev: 'eth0' });
    const steps: string[] = [];
    const err = await linux({ clusterName: c, stateDir })
      .apply(bad, { apps: new Map([['workload', workload]]), onProgress: (s) => steps.push(s) })
      .catch((e: unknown) => e);
    expect(PodnetError.is(err) && err.code).toBe('PODNET_BACKEND');
    expect(String((err as Error).message)).toContain('route replace 10.99.0.0/16 via 10.98.0.1 dev eth0');
    expect(steps.some((s) => s.startsWith('routes ('))).toBe(true);
    expect(steps.at(-1)).toBe('rolling back');
    expect(snapshot(clusterPrefix(c), clusterMarker(c))).toEqual(before);
    expect((await status(c, { stateDir })).exists).toBe(false);
  });

  it('a failing update restores the previous plan', async () => {
    const c = cluster('up');
    try {
      const good = plan(2, 1);
      const net = await linux({ clusterName: c, stateDir }).apply(good, { apps: new Map([['workload', workload]]) });
      const bad = plan(2, 1);
      bad.nodes[0].routes.push({ netns: 'root', dst: '10.99.0.0/16', family: 4, via: '10.98.0.1', dev: 'eth0' });
      bad.nodes[0].routes = bad.nodes[0].routes.filter((r) => r.dst !== '10.244.1.0/24');
      await expect(net.update(bad)).rejects.toThrow(/10\.98\.0\.1/);
      const st = await status(c, { stateDir });
      expect(st.phase).toBe('ready');
      const r = await probe(c, 'default/p1-0', { proto: 'http', host: '10.244.1.2', port: 8080 }, { stateDir });
      expect(r[0]).toMatchObject({ ok: true, status: 200 });
    } finally {
      await down(c, { stateDir });
    }
  });

  it('20 up/down cycles leak no namespace, host link or process', async () => {
    const c = cluster('cy');
    const prefix = clusterPrefix(c);
    const marker = clusterMarker(c);
    const before = snapshot(prefix, marker);
    const small = plan(2, 1);
    small.nodes[1].apps = [];
    for (let i = 0; i < 20; i++) {
      await linux({ clusterName: c, stateDir }).apply(small, { apps: new Map([['workload', workload]]) });
      const up = snapshot(prefix, marker);
      expect(up.namespaces.length).toBe(7);
      expect(up.processes.length).toBe(2);
      await down(c, { stateDir });
      expect(snapshot(prefix, marker)).toEqual(before);
    }
  }, 120_000);
});
