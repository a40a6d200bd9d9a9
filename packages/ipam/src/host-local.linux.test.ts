/**
 * Side by side with the reference host-local binary (Debian's containernetworking-plugins): the
 * same network config and the same ADD/DEL sequence must give the same results, the same errors
 * and byte-identical store directories.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodnetError } from '@podnet/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCniConfig, toCniResult } from './cni.js';
import { hostLocal } from './host-local.js';

const BINARY = '/usr/lib/cni/host-local';
const available = process.platform === 'linux' && existsSync(BINARY);
if (!available)
  console.log(
    `host-local.linux.test.ts: skipped: ${BINARY} is not installed (apt install containernetworking-plugins)`,
  );

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'podnet-hl-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

interface Step {
  cmd: 'ADD' | 'DEL';
  id: string;
  ifname?: string;
  cniArgs?: string;
  /** Extra top-level config keys (args, runtimeConfig). */
  extra?: Record<string, unknown>;
}

type Outcome = { ok: true; stdout: string } | { ok: false; msg: string };

function runBinary(config: object, step: Step): Outcome {
  const r = spawnSync(BINARY, [], {
    input: JSON.stringify(config),
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: step.cmd,
      CNI_CONTAINERID: step.id,
      CNI_NETNS: '/dev/null',
      CNI_IFNAME: step.ifname ?? 'eth0',
      CNI_PATH: '/usr/lib/cni',
      CNI_ARGS: step.cniArgs ?? '',
    },
    encoding: 'utf8',
  });
  if (r.status === 0) return { ok: true, stdout: r.stdout };
  return { ok: false, msg: (JSON.parse(r.stdout) as { msg: string }).msg };
}

async function runOurs(config: object, step: Step): Promise<Outcome> {
  const inv = parseCniConfig(JSON.stringify(config), step.cniArgs ?? '');
  const ipam = hostLocal(inv.options);
  try {
    if (step.cmd === 'DEL') {
      await ipam.release(step.id, step.ifname ?? 'eth0');
      return { ok: true, stdout: '' };
    }
    const allocations = await ipam.allocate({
      containerId: step.id,
      ifname: step.ifname ?? 'eth0',
      ips: inv.ips,
    });
    const result = toCniResult(allocations, { cniVersion: inv.cniVersion, routes: inv.options.routes });
    return { ok: true, stdout: JSON.stringify(result, null, 4) };
  } catch (e) {
    if (!PodnetError.is(e)) throw e;
    return { ok: false, msg: e.message };
  }
}

async function snapshot(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const mode = ((await stat(path)).mode & 0o777).toString(8);
    out.push(`${name} ${mode} ${JSON.stringify(await readFile(path, 'utf8'))}`);
  }
  return out;
}

async function sideBySide(name: string, ipam: Record<string, unknown>, steps: Step[], cniVersion = '1.0.0') {
  const ours = join(root, `${name}-ours`);
  const theirs = join(root, `${name}-theirs`);
  const config = (dataDir: string, extra: Record<string, unknown> = {}) => ({
    cniVersion,
    name,
    type: 'bridge',
    ipam: { type: 'host-local', dataDir, ...ipam },
    ...extra,
  });
  const log: string[] = [];
  for (const [i, step] of steps.entries()) {
    const label = `step ${i}: ${step.cmd} ${step.id}/${step.ifname ?? 'eth0'}${step.cniArgs ? ` ${step.cniArgs}` : ''}`;
    const expected = runBinary(config(theirs, step.extra), step);
    const actual = await runOurs(config(ours, step.extra), step);
    if (expected.ok) {
      expect(actual, label).toEqual(expected);
    } else {
      expect(actual.ok, `${label}: host-local failed with "${expected.msg}"`).toBe(false);
      expect((actual as { msg: string }).msg, label).toContain(expected.msg);
    }
    expect(await snapshot(join(ours, name)), label).toEqual(await snapshot(join(theirs, name)));
    log.push(`${label} → ${expected.ok ? 'ok' : expected.msg}`);
  }
  return log;
}

describe.skipIf(!available)('host-local side by side with the reference binary', () => {
  it('dual-stack with two pools in one set: rotation, requested IPs, duplicates, rollback, exhaustion', async () => {
    const steps: Step[] = [
      { cmd: 'ADD', id: 'c1' },
      { cmd: 'ADD', id: 'c2' },
      { cmd: 'ADD', id: 'c3' },
      { cmd: 'DEL', id: 'c2' },
      { cmd: 'ADD', id: 'c4' },
      { cmd: 'ADD', id: 'c1' },
      { cmd: 'ADD', id: 'c1', ifname: 'eth1' },
      { cmd: 'ADD', id: 'c5', extra: { args: { cni: { ips: ['10.77.1.4'] } } } },
      { cmd: 'ADD', id: 'c6', cniArgs: 'IgnoreUnknown=1;IP=10.77.0.9' },
      { cmd: 'ADD', id: 'c7', extra: { runtimeConfig: { ips: ['10.77.1.3/29'] } } },
      { cmd: 'ADD', id: 'c7', extra: { args: { cni: { ips: ['10.77.0.3'] } } } },
      { cmd: 'ADD', id: 'c8' },
      { cmd: 'ADD', id: 'c9' },
      { cmd: 'DEL', id: 'nobody' },
      { cmd: 'DEL', id: 'c1', ifname: 'eth1' },
      { cmd: 'ADD', id: 'c10' },
      { cmd: 'DEL', id: 'c3' },
      { cmd: 'DEL', id: 'c4' },
      { cmd: 'ADD', id: 'c11' },
      { cmd: 'ADD', id: 'c12' },
      { cmd: 'ADD', id: 'c13' },
      { cmd: 'DEL', id: 'c12' },
      { cmd: 'ADD', id: 'c12', extra: { args: { cni: { ips: ['fd77:0:0:1::4', '10.77.0.4'] } } } },
      { cmd: 'DEL', id: 'c5' },
      { cmd: 'ADD', id: 'c14', extra: { args: { cni: { ips: ['fd77:0:0:1::7', '10.77.1.4'] } } } },
      { cmd: 'ADD', id: 'c15' },
    ];
    const log = await sideBySide(
      'sbs',
      {
        routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd77:0:0:1::1' }],
        ranges: [
          [
            { subnet: '10.77.0.0/29' },
            { subnet: '10.77.1.0/29', rangeStart: '10.77.1.2', rangeEnd: '10.77.1.4', gateway: '10.77.1.3' },
          ],
          [{ subnet: 'fd77:0:0:1::/125' }],
        ],
      },
      steps,
    );
    // The sequence reaches every interesting outcome (so the comparison covered them).
    const outcomes = log.join('\n');
    expect(outcomes).toContain('ADD c14/eth0 → ok');
    expect(outcomes).toContain('duplicate allocation is not allowed');
    expect(outcomes).toContain('failed to allocate all requested IPs: 10.77.0.9');
    expect(outcomes).toContain("is subnet's gateway");
    expect(outcomes).toContain('is not available in range set');
    expect(outcomes).toContain(
      'failed to allocate for range 1: no IP addresses available in range set: fd77:0:0:1::1-fd77:0:0:1::7',
    );
  });

  it('old-style single range with rangeStart/rangeEnd and CNI 0.4.0 results', async () => {
    const steps: Step[] = [
      ...['a', 'b', 'c', 'd'].map((id) => ({ cmd: 'ADD' as const, id })),
      { cmd: 'DEL', id: 'b' },
      { cmd: 'ADD', id: 'e' },
      { cmd: 'ADD', id: 'f' },
      { cmd: 'DEL', id: 'a' },
      { cmd: 'DEL', id: 'c' },
      { cmd: 'ADD', id: 'g' },
      { cmd: 'ADD', id: 'h', ifname: 'net1' },
    ];
    await sideBySide(
      'legacy',
      {
        subnet: '192.168.90.0/24',
        rangeStart: '192.168.90.250',
        rangeEnd: '192.168.90.253',
        routes: [{ dst: '10.0.0.0/8', gw: '192.168.90.1' }],
      },
      steps,
      '0.4.0',
    );
  });
});
