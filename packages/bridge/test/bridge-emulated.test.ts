import { composeDataplane } from '@podnet/core';
import { describeOverlayBackend, overlaySuiteCluster } from '@podnet/core/testing';
import { emulator } from '@podnet/emulator';
import { vxlan } from '@podnet/overlay-vxlan';
import { describe, expect, it } from 'vitest';
import { bridge, containerId, formatChainName } from '../src/index.js';

// The bridge plugin's own ipMasq, instead of flannel's rules, must also pass the overlay contract.
describeOverlayBackend({
  name: 'vxlan, masquerading by the bridge plugin (ipMasq)',
  overlay: () => vxlan({ ipMasq: false }),
  podNetwork: () => bridge({ ipMasq: true }),
  backend: () => emulator(),
});

describe('bridge ipMasq on the emulator', () => {
  const state = overlaySuiteCluster();
  const a1 = state.pods[0];
  const external = '203.0.113.10';

  it('SNATs pod → internet to the node address through the pod’s CNI-… chain', async () => {
    const plan = composeDataplane(state, { podNetwork: bridge({ ipMasq: true }), overlay: vxlan({ ipMasq: false }) });
    const net = await emulator().apply(plan);
    const t = net.trace({ from: 'default/a1', to: external, proto: 'icmp' });
    expect(t.verdict).toBe('delivered');
    expect(t.hops.filter((h) => h.node === 'external').at(-1)?.packet.src).toBe(state.nodes[0].internalIPs[0]);
    const chain = formatChainName('cbr0', containerId(a1));
    const rules = t.hops.flatMap((h) => h.rules ?? []);
    expect(rules.some((r) => r.includes(`-A ${chain} ! -d 224.0.0.0/4`) && r.includes('-j MASQUERADE'))).toBe(true);
    expect(t.reply?.verdict).toBe('delivered');
    await net.destroy();
  });

  it('without any masquerading the external host sees the pod address and cannot answer', async () => {
    const plan = composeDataplane(state, { podNetwork: bridge({ ipMasq: false }), overlay: vxlan({ ipMasq: false }) });
    const net = await emulator().apply(plan);
    const t = net.trace({ from: 'default/a1', to: external, proto: 'icmp' });
    expect(t.hops.filter((h) => h.node === 'external').at(-1)?.packet.src).toBe(a1.ips[0]);
    expect(t.reply?.verdict).not.toBe('delivered');
    await net.destroy();
  });
});
