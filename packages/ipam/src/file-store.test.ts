import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodnetError, compareIps } from '@podnet/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileStore } from './file-store.js';
import { hostLocal } from './host-local.js';
import { bundleIpam, startWorker, writeWorker } from './test-processes.js';

let root: string;
let worker: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'podnet-ipam-'));
  await bundleIpam(root);
  worker = await writeWorker(root);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const contents = async (dir: string) => {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = await readFile(join(dir, name), 'utf8');
  return out;
};

/** The PID of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('file store', () => {
  it("writes host-local's layout: one file per address, last_reserved_ip.N, lock", async () => {
    const dataDir = join(root, 'layout');
    const ipam = hostLocal({
      store: 'file',
      dataDir,
      network: 'net1',
      ranges: [[{ subnet: '10.1.2.0/29' }], [{ subnet: 'fd00::/125' }]],
    });
    await ipam.allocate({ containerId: 'c1', ifname: 'eth0' });
    await ipam.allocate({ containerId: ' c2 ', ifname: 'eth1' });
    expect(await contents(join(dataDir, 'net1'))).toEqual({
      '10.1.2.2': 'c1\r\neth0',
      '10.1.2.3': 'c2\r\neth1',
      'fd00::2': 'c1\r\neth0',
      'fd00::3': 'c2\r\neth1',
      'last_reserved_ip.0': '10.1.2.3',
      'last_reserved_ip.1': 'fd00::3',
      lock: '',
    });
    await ipam.release('c1', 'eth0');
    expect(Object.keys(await contents(join(dataDir, 'net1')))).toEqual([
      '10.1.2.3',
      'fd00::3',
      'last_reserved_ip.0',
      'last_reserved_ip.1',
      'lock',
    ]);
  });

  it('reads records of old host-local versions (container ID only) and releases them by container', async () => {
    const dataDir = join(root, 'legacy');
    const ipam = hostLocal({ store: 'file', dataDir, network: 'n', ranges: [[{ subnet: '10.2.0.0/24' }]] });
    await ipam.allocate({ containerId: 'new', ifname: 'eth0' });
    await writeFile(join(dataDir, 'n', '10.2.0.7'), 'old-one\n');
    expect(await ipam.check('old-one', 'eth0')).toBe(true);
    await ipam.release('old-one', 'eth0');
    expect((await ipam.list()).map((r) => r.ip)).toEqual(['10.2.0.2']);
  });

  it('continues round-robin from a store another process (or host-local) left behind', async () => {
    const dataDir = join(root, 'resume');
    const dir = join(dataDir, 'n');
    const opts = { store: 'file' as const, dataDir, network: 'n', ranges: [[{ subnet: '10.3.0.0/24' }]] };
    await hostLocal(opts).allocate({ containerId: 'a', ifname: 'eth0' });
    await writeFile(join(dir, 'last_reserved_ip.0'), '10.3.0.40');
    const [b] = await hostLocal(opts).allocate({ containerId: 'b', ifname: 'eth0' });
    expect(b.address).toBe('10.3.0.41/24');
  });

  it('200 allocations from 10 processes at once give 200 distinct addresses', async () => {
    const dataDir = join(root, 'concurrent');
    const started = Date.now();
    const workers = Array.from({ length: 10 }, (_, w) =>
      startWorker(worker, ['burst', dataDir, 'net', '10.9.0.0/24', `w${w}`, '20']),
    );
    const results = await Promise.all(workers.map((w) => w.exited));
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
    const addresses = workers.flatMap((w) => w.lines.map((l) => l.split(' ')[2]));
    expect(addresses).toHaveLength(200);
    expect(new Set(addresses).size).toBe(200);
    const files = await contents(join(dataDir, 'net'));
    const records = Object.entries(files).filter(([name]) => name.startsWith('10.9.0.'));
    expect(records).toHaveLength(200);
    for (const w of workers) {
      for (const line of w.lines) {
        const [, id, address] = line.split(' ');
        expect(files[address.split('/')[0]]).toBe(`${id}\r\neth0`);
      }
    }
    expect(Object.keys(files).filter((n) => !n.startsWith('10.9.0.'))).toEqual([
      'last_reserved_ip.0',
      'lock',
    ]);
    console.log(`200 allocations across 10 processes: ${Date.now() - started} ms`);
  });

  it('a process killed mid-allocation leaves a store that loads, continues without duplicates, and GC frees exactly the dead', async () => {
    const dataDir = join(root, 'crash');
    const dir = join(dataDir, 'net');
    const live = new Map<string, string>();
    // Kill at different moments, until at least one kill landed while the worker held the lock
    // (the usual case: it spends most of its time inside transactions). Each round starts where the
    // previous one left off, breaking the dead worker's lock.
    const releasing = new Set<string>();
    let killedHoldingLock = 0;
    for (let round = 0; round < 8 && (round < 3 || killedHoldingLock === 0); round++) {
      const w = startWorker(worker, ['loop', dataDir, 'net', '10.10.0.0/22', `r${round}`]);
      await new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (w.lines.length >= 20 + round * 7) {
            clearInterval(t);
            resolve();
          }
        }, 2);
      });
      await new Promise((r) => setTimeout(r, 1 + (round % 4) * 3));
      w.child.kill('SIGKILL');
      const exit = await w.exited;
      expect(exit.signal).toBe('SIGKILL');
      if ((await readdir(dir)).includes('lock.podnet')) killedHoldingLock++;
      for (const line of w.lines) {
        const [sign, id, address] = line.split(' ');
        if (sign === '+') live.set(id, address.split('/')[0]);
        else live.delete(id);
      }
      // After `+ rN-<odd i>` the worker was releasing rN-<i-1>: that record may or may not be gone.
      const [sign, id] = (w.lines.at(-1) ?? '').split(' ');
      const i = Number(id?.split('-')[1]);
      if (sign === '+' && i % 2 === 1) releasing.add(`r${round}-${i - 1}`);
    }
    expect(killedHoldingLock).toBeGreaterThan(0);
    const ipam = hostLocal({
      store: 'file',
      dataDir,
      network: 'net',
      ranges: [[{ subnet: '10.10.0.0/22' }]],
      lockTimeoutMs: 2000,
    });
    // Loads (breaking a lock a killed worker may have held) and every record is whole.
    const before = await ipam.list();
    for (const r of before) {
      expect(r.containerId).toMatch(/^r\d-\d+$/);
      expect(r.ifname).toBe('eth0');
    }
    expect(
      (await readdir(dir)).filter((n) => n.startsWith('.podnet-tmp-') || n.startsWith('lock.podnet')),
    ).toEqual([]);
    // Every address a worker reported as held is still on disk, owned by that worker.
    for (const [id, ip] of live) {
      const owner = before.find((r) => r.ip === ip)?.containerId;
      if (!(releasing.has(id) && owner === undefined)) expect(owner).toBe(id);
    }
    // Continue allocating: no address twice.
    const taken = new Set(before.map((r) => r.ip));
    for (let i = 0; i < 20; i++) {
      const [a] = await ipam.allocate({ containerId: `after-${i}`, ifname: 'eth0' });
      const ip = a.address.split('/')[0];
      expect(taken.has(ip)).toBe(false);
      taken.add(ip);
    }
    // GC with the attachments the runtime knows: the reported ones and ours.
    const attachments = [...live.keys(), ...Array.from({ length: 20 }, (_, i) => `after-${i}`)].map(
      (containerId) => ({
        containerId,
        ifname: 'eth0',
      }),
    );
    const dead = before.filter((r) => !live.has(r.containerId)).map((r) => r.ip);
    expect(await ipam.gc(attachments)).toEqual(dead.sort(compareIps));
    const after = await ipam.list();
    expect(after).toHaveLength(before.length - dead.length + 20);
    expect(after.every((r) => live.has(r.containerId) || r.containerId.startsWith('after-'))).toBe(true);
    expect(await ipam.gc(attachments)).toEqual([]);
  });

  it('breaks the lock of a dead process and sweeps its temporary files', async () => {
    const dataDir = join(root, 'stale');
    const dir = join(dataDir, 'n');
    const ipam = hostLocal({
      store: 'file',
      dataDir,
      network: 'n',
      ranges: [[{ subnet: '10.4.0.0/24' }]],
      lockTimeoutMs: 1000,
    });
    await ipam.allocate({ containerId: 'a', ifname: 'eth0' });
    await writeFile(
      join(dir, 'lock.podnet'),
      JSON.stringify({ host: hostname(), pid: deadPid(), token: 'dead' }),
    );
    await writeFile(join(dir, '.podnet-tmp-deadbeef-0'), 'half');
    const [b] = await hostLocal({
      store: 'file',
      dataDir,
      network: 'n',
      ranges: [[{ subnet: '10.4.0.0/24' }]],
    }).allocate({
      containerId: 'b',
      ifname: 'eth0',
    });
    expect(b.address).toBe('10.4.0.3/24');
    expect((await readdir(dir)).sort()).toEqual(['10.4.0.2', '10.4.0.3', 'last_reserved_ip.0', 'lock']);
  });

  it('waits for a live holder and gives up with a retryable store error', async () => {
    const dataDir = join(root, 'held');
    const dir = join(dataDir, 'n');
    const store = fileStore({ dataDir, network: 'n', lockTimeoutMs: 150 });
    await store.transaction(async () => undefined);
    const me = { host: hostname(), pid: process.pid, token: 'x' };
    await writeFile(join(dir, 'lock.podnet'), JSON.stringify(me));
    const started = Date.now();
    const err = await store.transaction(async () => 'ran').catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(PodnetError.is(err) && err.code).toBe('PODNET_IPAM_STORE');
    expect((err as PodnetError).retryable).toBe(true);
    expect((err as Error).message).toContain(`held by pid ${process.pid}`);
    // A lock whose PID was reused by another process (start time differs) counts as dead.
    await writeFile(join(dir, 'lock.podnet'), JSON.stringify({ ...me, start: '1' }));
    expect(await store.transaction(async () => 'ran')).toBe('ran');
    expect((await stat(join(dir, 'lock'))).size).toBe(0);
  });

  it('refuses a network name that is not a single directory', () => {
    expect(() => fileStore({ network: '../etc' })).toThrow(/network: "..\/etc" cannot name a directory/);
    expect(() => fileStore({ network: '' })).toThrow(/network: expected a non-empty string/);
  });
});
