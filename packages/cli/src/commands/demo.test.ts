import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

describe('podnet demo', () => {
  it('walks the tour on the two-node example with the real plugins', async () => {
    const io = bufferIo('', root);
    expect(await main(['demo', '-f', 'examples/two-node.yaml'], io)).toBe(0);
    const out = io.stdout;
    // 1 and 2: same node stays on the bridge; across nodes is wrapped in VXLAN 8472 VNI 1
    const [same, across] = [out.split('\n1. ')[1].split('\n2. ')[0], out.split('\n2. ')[1].split('\n3. ')[0]];
    expect(same).not.toMatch(/vxlan-encap|forward/);
    expect(same).toMatch(/=> delivered to default\/web-/);
    expect(across).toMatch(/vxlan-encap .*vni 1, udp 192\.168\.50\.10:\d+ > 192\.168\.50\.11:8472/);
    expect(across).toMatch(/vxlan-decap/);
    // 3: three endpoints, 1/3 each, and a real HTTP answer naming a web pod
    expect(out.match(/p=0\.3333 {2}delivered to default\/web-/g)).toHaveLength(3);
    expect(out).toMatch(/answered by: web-\w+-\w+/);
    // 4: ndots:5 makes a dotted name walk the whole search list
    expect(out).toMatch(/web\.default\.svc\.cluster\.local: .*NXDOMAIN.*NXDOMAIN.*NXDOMAIN.*NOERROR/);
    // 5: the MTU cliff
    expect(out).toMatch(/1500 bytes: dropped \(message too long .*mtu 1450 of flannel\.1\)/);
    expect(out).toMatch(/1450 bytes: delivered/);
    // 6 and 7: the other overlays
    expect(out).toMatch(/forward +10\.244\.1\.0\/24 via 192\.168\.50\.11 dev eth0/);
    expect(out).toMatch(/tun +to app flannel-udp/);
    expect(out).toMatch(/192\.168\.50\.11:8285/);
  });
});
