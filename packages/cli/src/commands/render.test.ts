import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const run = async (args: string[]) => {
  const io = bufferIo('', root);
  const code = await main(args, io);
  return { code, out: io.stdout, err: io.stderr };
};
const TWO = ['-f', 'examples/two-node.yaml'];

describe('podnet render', () => {
  it('prints the ip/bridge commands of a node in the order flannel programs them', async () => {
    const r = await run(['render', ...TWO, '--node', 'node-1', '--part', 'ip']);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toContain('ip netns add default_client');
    expect(lines.some((l) => /^ip link add name cni0 mtu 1450 address \S+ type bridge$/.test(l))).toBe(true);
    expect(
      lines.some((l) =>
        /^ip link add name flannel\.1 mtu 1450 address \S+ type vxlan id 1 local 192\.168\.50\.10 dev eth0 dstport 8472 nolearning$/.test(
          l,
        ),
      ),
    ).toBe(true);
    const neigh = lines.findIndex((l) =>
      /^ip neigh replace 10\.244\.1\.0 lladdr \S+ dev flannel\.1 nud permanent$/.test(l),
    );
    const fdb = lines.findIndex((l) =>
      /^bridge fdb append \S+ dev flannel\.1 dst 192\.168\.50\.11 self permanent$/.test(l),
    );
    const route = lines.indexOf('ip route replace 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink');
    expect(neigh).toBeGreaterThan(0);
    expect(fdb).toBeGreaterThan(neigh);
    expect(route).toBeGreaterThan(fdb);
    expect(lines).toContain('ip -n default_client route replace default via 10.244.0.1 dev eth0');
  });

  it('prints kube-proxy iptables-restore input and nft text per the proxy mode', async () => {
    const ipt = await run(['render', ...TWO, '--node', 'node-2', '--part', 'iptables']);
    expect(ipt.code).toBe(0);
    expect(ipt.out).toMatch(/^\*nat$/m);
    expect(ipt.out).toMatch(/^:KUBE-SERVICES - \[0:0\]$/m);
    expect(ipt.out).toMatch(
      /-A KUBE-SERVICES -m comment --comment "default\/web:http cluster IP" -m tcp -p tcp -d 10\.\d+\.\d+\.\d+ --dport 80 -j KUBE-SVC-/,
    );
    expect(ipt.out).toMatch(/-A FLANNEL-POSTRTG/);
    const nft = await run(['render', ...TWO, '--node', 'node-2', '--part', 'nft']);
    expect(nft.out).toBe('');
  });

  it('refuses an unknown node or part with exit 2', async () => {
    const bad = await run(['render', ...TWO, '--node', 'node-9']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/no node "node-9" \(nodes: node-1, node-2\)/);
    expect((await run(['render', ...TWO, '--node', 'node-1', '--part', 'xdp'])).code).toBe(2);
  });
});
