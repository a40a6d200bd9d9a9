import { fileURLToPath } from 'node:url';
import { loadCluster } from '@podnet/cluster';
import { describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
/** The ClusterIP the allocator gives default/web in the two-node example. */
const WEB_IP = (await loadCluster([`${root}examples/two-node.yaml`])).services.find((s) => s.name === 'web')!
  .clusterIPs[0];
const run = async (args: string[], stdin = '') => {
  const io = bufferIo(stdin, root);
  const code = await main(args, io);
  return { code, out: io.stdout, err: io.stderr };
};
const TWO = ['-f', 'examples/two-node.yaml'];

const HEADLESS = `
apiVersion: v1
kind: Node
metadata: { name: n1 }
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db }
spec:
  serviceName: db
  replicas: 2
  selector: { matchLabels: { app: db } }
  template:
    metadata: { labels: { app: db } }
    spec:
      containers: [{ name: db, ports: [{ name: pg, containerPort: 5432 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: db }
spec:
  clusterIP: None
  selector: { app: db }
  ports: [{ name: pg, port: 5432 }]
`;

describe('podnet dig', () => {
  it('answers a service name in JSON with dig presentation data', async () => {
    const r = await run(['dig', ...TWO, 'web.default.svc.cluster.local', '-o', 'json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toEqual({
      rcode: 'NOERROR',
      flags: { aa: true, tc: false, rd: true, ra: false },
      answers: [{ name: 'web.default.svc.cluster.local.', type: 'A', ttl: 30, data: WEB_IP }],
      authority: [],
      additionals: [],
    });
  });

  it('SRV data and the SOA of a negative answer in presentation format; exit 1 on NXDOMAIN', async () => {
    const srv = JSON.parse(
      (await run(['dig', ...TWO, '_http._tcp.web.default.svc.cluster.local', 'SRV', '-o', 'json'])).out,
    );
    expect(srv.answers[0].data).toBe('0 100 80 web.default.svc.cluster.local.');
    expect(srv.additionals[0]).toEqual({
      name: 'web.default.svc.cluster.local.',
      type: 'A',
      ttl: 30,
      data: WEB_IP,
    });
    const nx = await run(['dig', ...TWO, 'nope.default.svc.cluster.local', '-o', 'json']);
    expect(nx.code).toBe(1);
    const j = JSON.parse(nx.out);
    expect(j.rcode).toBe('NXDOMAIN');
    expect(j.authority[0].data).toMatch(
      /^ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 30$/,
    );
  });

  it('--from a pod shows every query of the search-path expansion', async () => {
    const r = await run(['dig', ...TWO, 'web', '--from', 'default/client', '-o', 'json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.queries).toEqual([{ name: 'web.default.svc.cluster.local.', type: 'A', rcode: 'NOERROR' }]);
    const far = JSON.parse(
      (await run(['dig', ...TWO, 'web.default.svc.cluster.local', '--from', 'default/client', '-o', 'json']))
        .out,
    );
    expect(far.queries.map((q: { rcode: string }) => q.rcode)).toEqual([
      'NXDOMAIN',
      'NXDOMAIN',
      'NXDOMAIN',
      'NOERROR',
    ]);
    expect(far.answers[0].data).toBe(WEB_IP);
  });

  it('prints dig-like sections in text', async () => {
    const r = await run(['dig', ...TWO, 'web', '--from', 'default/client']);
    expect(r.out).toContain(';; resolv.conf of default/client:');
    expect(r.out).toContain(';;   search default.svc.cluster.local svc.cluster.local cluster.local');
    expect(r.out).toContain(';;   options ndots:5');
    expect(r.out).toContain(';; ->>HEADER<<- opcode: QUERY, status: NOERROR');
    expect(r.out).toContain(';; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 0');
    expect(r.out).toContain(';; QUESTION SECTION:\n;web.default.svc.cluster.local.\t\tIN\tA');
    expect(r.out).toContain(`;; ANSWER SECTION:\nweb.default.svc.cluster.local.\t30\tIN\tA\t${WEB_IP}`);
    expect(r.out).toContain(';; SERVER: 10.96.0.10#53');
  });

  it('reverse-looks-up an IP and resolves StatefulSet hostnames from stdin manifests', async () => {
    const ptr = JSON.parse((await run(['dig', ...TWO, '10.96.0.10', '-o', 'json'])).out);
    expect(ptr.answers[0]).toMatchObject({ type: 'PTR', data: 'kube-dns.kube-system.svc.cluster.local.' });
    const a = JSON.parse(
      (await run(['dig', '-f', '-', 'db-1.db.default.svc.cluster.local', '-o', 'json'], HEADLESS)).out,
    );
    expect(a.rcode).toBe('NOERROR');
    expect(a.answers).toHaveLength(1);
    const srv = JSON.parse(
      (await run(['dig', '-f', '-', '_pg._tcp.db.default.svc.cluster.local', 'srv', '-o', 'json'], HEADLESS))
        .out,
    );
    expect(srv.answers.map((x: { data: string }) => x.data).sort()).toEqual([
      '0 50 5432 db-0.db.default.svc.cluster.local.',
      '0 50 5432 db-1.db.default.svc.cluster.local.',
    ]);
  });

  it('bad input exits 2 with a message naming the argument', async () => {
    expect(await run(['dig', ...TWO])).toMatchObject({ code: 2, err: expect.stringMatching(/NAME/) });
    expect(await run(['dig', ...TWO, 'web', 'BOGUS'])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/"BOGUS" is not a record type/),
    });
    expect(await run(['dig', ...TWO, 'web', '--from', 'client'])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--from/),
    });
    expect(await run(['dig', ...TWO, 'web', '--from', 'default/nobody'])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/pod default\/nobody not found/),
    });
  });
});
