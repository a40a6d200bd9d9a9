import { bridge } from '@podnet/bridge';
import { composeDataplane } from '@podnet/core';
import { describeOverlayBackend, overlaySuiteCluster } from '@podnet/core/testing';
import { emulator } from '@podnet/emulator';
import { describe, expect, it } from 'vitest';
import { flannelUdpApp, udp } from '../src/index.js';

const apps = new Map([[flannelUdpApp.id, flannelUdpApp]]);

describeOverlayBackend({
  overlay: () => udp(),
  podNetwork: () => bridge(),
  backend: () => emulator(),
  apps,
});

describe('flannel-udp on the emulator', () => {
  it('carries pod traffic between the daemons from port 8285 to port 8285, both ways', async () => {
    const state = overlaySuiteCluster();
    const [n1, n2] = state.nodes.map((n) => n.internalIPs[0]);
    const net = await emulator().apply(composeDataplane(state, { podNetwork: bridge(), overlay: udp() }), { apps });
    try {
      const t = net.trace({ from: 'default/a1', to: 'default/b1:8080' });
      expect(t.verdict).toBe('delivered');
      expect(t.delivered).toMatchObject({ node: 'node-2', pod: 'default/b1', port: 8080 });
      const outer = (hops: typeof t.hops, node: string) =>
        hops.find((h) => h.node === node && h.step === 'send' && h.packet.proto === 'udp');
      expect(outer(t.hops, 'node-1')).toMatchObject({
        netns: 'root',
        detail: expect.stringContaining(`from port 8285 (udp socket ${n1}:8285 of `),
        packet: { src: n1, dst: n2, sport: 8285, dport: 8285 },
      });
      // the peer's datagram goes to its listener (no transient socket takes it) and on into its TUN
      const deliveries = t.hops.filter((h) => h.step === 'deliver' && h.packet.proto === 'udp').map((h) => `${h.node} ${h.detail}`);
      expect(deliveries).toEqual([expect.stringMatching(new RegExp(`^node-2 udp socket ${n2.replace(/\./g, '\\.')}:8285 \\(`))]);
      expect(t.reply?.verdict).toBe('delivered');
      expect(outer(t.reply!.hops, 'node-2')?.packet).toMatchObject({ src: n2, dst: n1, sport: 8285, dport: 8285 });
      expect(t.reply!.hops.at(-1)).toMatchObject({ node: 'node-1', netns: 'default/a1', step: 'deliver' });
    } finally {
      await net.destroy();
    }
  });
});
