/**
 * BIND's dig (Debian bind9-dnsutils) against the real server on loopback: the records dig prints
 * are the records the engine returns, over UDP, over TCP, and for a truncated UDP answer that dig
 * retries over TCP.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presentRecord } from './records.js';
import { createResolver } from './resolver.js';
import { type DnsServer, startDnsServer } from './server.js';
import { lines, testCluster } from './test-cluster.js';

const run = promisify(execFile);
const hasDig = spawnSync('dig', ['-v']).status === 0;
if (!hasDig) console.warn('dig.test.ts: skipped, `dig` is not installed (apt-get install bind9-dnsutils)');

interface DigOutput {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  raw: string;
}

async function dig(port: number, args: string[]): Promise<DigOutput> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]);
  const out: DigOutput = { status: '', flags: [], answer: [], authority: [], additional: [], raw: stdout };
  let section: 'answer' | 'authority' | 'additional' | undefined;
  for (const line of stdout.split('\n')) {
    const status = /status: (\w+)/.exec(line);
    if (status) out.status = status[1];
    const flags = /^;; flags: ([^;]*);/.exec(line);
    if (flags) out.flags = flags[1].trim().split(/\s+/);
    if (line.startsWith(';; ANSWER SECTION')) section = 'answer';
    else if (line.startsWith(';; AUTHORITY SECTION')) section = 'authority';
    else if (line.startsWith(';; ADDITIONAL SECTION')) section = 'additional';
    else if (line.startsWith(';') || line.trim() === '') {
      if (line.trim() === '') section = undefined;
    } else if (section) out[section].push(line);
  }
  return out;
}

describe.skipIf(!hasDig)('dig against the real server', () => {
  let server: DnsServer;
  const engine = createResolver(testCluster(), { serial: 2024 });
  beforeAll(async () => {
    server = await startDnsServer({
      state: testCluster(),
      listen: '127.0.0.1:0',
      health: false,
      ready: false,
      metrics: false,
      resolver: { serial: 2024 },
    });
  });
  afterAll(async () => {
    await server.stop();
  });

  const cases: [string, string][] = [
    ['svc1.testns.svc.cluster.local', 'A'],
    ['SvC6.TeStNs.SvC.cLuStEr.LoCaL', 'AAAA'],
    ['_http._tcp.hdls1.testns.svc.cluster.local', 'SRV'],
    ['_pg._tcp.pg.db.svc.cluster.local', 'SRV'],
    ['external-to-service.testns.svc.cluster.local', 'A'],
    ['dns-version.cluster.local', 'TXT'],
    ['cluster.local', 'NS'],
    ['cluster.local', 'SOA'],
    ['nosuch.testns.svc.cluster.local', 'A'],
    ['svc1.testns.svc.cluster.local', 'AAAA'],
    ['10-240-0-1.podns.pod.cluster.local', 'A'],
    ['1.0.0.10.in-addr.arpa', 'PTR'],
  ];

  for (const transport of ['udp', 'tcp'] as const) {
    it.each(cases)(`${transport}: %s %s`, async (name, type) => {
      const d = await dig(server.address.port, [name, type, ...(transport === 'tcp' ? ['+tcp'] : [])]);
      const a = engine.resolve({ name, type });
      expect(d.status).toBe(a.rcode);
      expect(d.flags).toContain('aa');
      expect(d.flags).not.toContain('tc');
      expect(lines(d.answer)).toEqual(lines(a.answers.map(presentRecord)));
      expect(lines(d.authority)).toEqual(lines(a.authorities.map(presentRecord)));
      expect(lines(d.additional)).toEqual(lines(a.additionals.map(presentRecord)));
    });
  }

  it('a headless service with 100 endpoints: truncated over UDP, dig retries over TCP', async () => {
    const a = engine.resolve({ name: 'many.big.svc.cluster.local', type: 'A' });
    const truncated = await dig(server.address.port, ['many.big.svc.cluster.local', 'A', '+ignore']);
    expect(truncated.flags).toContain('tc');
    expect(truncated.answer.length).toBeGreaterThan(0);
    expect(truncated.answer.length).toBeLessThan(100);
    const retried = await dig(server.address.port, ['many.big.svc.cluster.local', 'A']);
    expect(retried.raw).toMatch(/Truncated, retrying in TCP mode/);
    expect(retried.answer).toHaveLength(100);
    expect(lines(retried.answer)).toEqual(lines(a.answers.map(presentRecord)));
  });

  it('without EDNS (+noedns) the 512-byte limit applies', async () => {
    const d = await dig(server.address.port, ['many.big.svc.cluster.local', 'A', '+noedns', '+ignore']);
    expect(d.flags).toContain('tc');
    expect(d.answer.length).toBeLessThan(12);
  });
});
