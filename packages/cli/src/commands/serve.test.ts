import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { loadCluster } from '@podnet/cluster';
import { describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
/** The ClusterIP the allocator gives default/web in the two-node example. */
const WEB_IP = (await loadCluster([`${root}examples/two-node.yaml`])).services.find((s) => s.name === 'web')!
  .clusterIPs[0];

/** A bare A query (RFC 1035 wire format) and the bits of the reply the test reads. */
function query(name: string): Buffer {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([
    Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels,
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
}

function ask(
  port: number,
  name: string,
  timeoutMs = 2000,
): Promise<{ rcode: number; answers: number; lastA: string }> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('no answer'));
    }, timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve({ rcode: msg[3] & 0xf, answers: msg.readUInt16BE(6), lastA: [...msg.subarray(-4)].join('.') });
    });
    sock.send(query(name), port, '127.0.0.1');
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error('timed out');
}

describe('podnet serve', () => {
  it('serves DNS for the manifests until SIGTERM; SIGHUP reloads', async () => {
    const io = bufferIo('', root);
    const done = main(
      [
        'serve',
        'dns',
        '-f',
        'examples/two-node.yaml',
        '--listen',
        '127.0.0.1:0',
        '--health',
        '127.0.0.1:0',
        '--ready',
        'off',
        '--metrics',
        'off',
      ],
      io,
    );
    await until(() => io.stdout.includes('Ctrl-C'));
    const port = Number(/udp 127\.0\.0\.1:(\d+)/.exec(io.stdout)?.[1]);
    expect(io.stdout).toMatch(
      /serving DNS for cluster\.local \(2 services, 6 pods\) on udp 127\.0\.0\.1:\d+, tcp 127\.0\.0\.1:\d+, http 127\.0\.0\.1:\d+\/health/,
    );
    const r = await ask(port, 'web.default.svc.cluster.local');
    expect(r).toEqual({ rcode: 0, answers: 1, lastA: WEB_IP });
    process.emit('SIGHUP', 'SIGHUP');
    await until(() => io.stdout.includes('reloaded'));
    process.emit('SIGTERM', 'SIGTERM');
    expect(await done).toBe(0);
    expect(io.stdout).toContain('SIGTERM: stopped');
    await expect(ask(port, 'web.default.svc.cluster.local', 300)).rejects.toThrow(/no answer/);
  });

  it('says what it can serve', async () => {
    const io = bufferIo('', root);
    expect(await main(['serve', 'nothing', '-f', 'examples/two-node.yaml'], io)).toBe(2);
    expect(io.stderr).toMatch(/unknown server "nothing" \(dns\)/);
  });
});
