import { createSocket } from 'node:dgram';
import type { EmulatedHost, EmulatedTun, OutboundResult, UdpHandler } from '@podnet/core';
import { FeatureMissingError } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import { flannelUdpApp, type PacketDevice, runFlannelUdp } from './flannel-udp-app.js';
import { ipv4Packet } from './test-support.js';
import type { FlannelUdpConfig } from './udp-proxy.js';

const config: FlannelUdpConfig = {
  tun: 'flannel0',
  port: 8285,
  localIP: '192.168.50.10',
  tunIP: '10.244.0.0',
  mtu: 1472,
  peers: [{ podCIDR: '10.244.1.0/24', nodeIP: '192.168.50.11' }],
};

/** A recording EmulatedHost: one TUN, one UDP listener; refuses what the face should not do. */
function recordingHost() {
  const sent: { dst: string; port: number; payload: Uint8Array; sourcePort?: number }[] = [];
  const tunWrites: Uint8Array[] = [];
  const logs: string[] = [];
  let onPacket: ((p: Uint8Array) => void) | undefined;
  let listener: { port: number; handler: UdpHandler; address?: string } | undefined;
  const host: EmulatedHost = {
    node: 'node-1',
    netns: 'root',
    addresses: () => ['192.168.50.10', '10.244.0.0'],
    listenUdp(port, handler, address) {
      if (listener) throw new Error('second UDP listener');
      listener = { port, handler, address };
    },
    listenTcp() {
      throw new Error('flannel-udp must not listen on TCP');
    },
    sendUdp(dst, port, payload, options): OutboundResult {
      sent.push({ dst, port, payload, sourcePort: options?.sourcePort });
      return { ok: true };
    },
    requestTcp() {
      throw new Error('flannel-udp must not open TCP connections');
    },
    openTun(name, cb): EmulatedTun {
      if (name !== 'flannel0') throw new Error(`unknown TUN ${name}`);
      onPacket = cb;
      return { name, write: (p) => tunWrites.push(p) };
    },
    log: (m) => logs.push(m),
  };
  return { host, sent, tunWrites, logs, tun: (p: Uint8Array) => onPacket!(p), listener: () => listener! };
}

describe('flannelUdpApp (emulated face)', () => {
  it('has the id the backend renders', () => {
    expect(flannelUdpApp.id).toBe('flannel-udp');
  });

  it('sends a packet read from the TUN, whole and TTL − 1, as one datagram from port 8285 to the owner’s port 8285', () => {
    const h = recordingHost();
    flannelUdpApp.emulated(config, h.host);
    const p = ipv4Packet('10.244.0.2', '10.244.1.5', { payload: 100 });
    const header = [...p.subarray(12, 20)];
    h.tun(p);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]).toMatchObject({ dst: '192.168.50.11', port: 8285, sourcePort: 8285 });
    // the very bytes the TUN handed over: the emulator follows the exchange by their identity
    expect(h.sent[0].payload).toBe(p);
    expect(p[8]).toBe(63);
    expect([...h.sent[0].payload.subarray(12, 20)]).toEqual(header);
  });

  it('listens on localIP:8285 and writes each received payload back into the TUN', () => {
    const h = recordingHost();
    flannelUdpApp.emulated(config, h.host);
    expect(h.listener()).toMatchObject({ port: 8285, address: '192.168.50.10' });
    const reply = h.listener().handler(ipv4Packet('10.244.1.5', '10.244.0.2'), {
      address: '192.168.50.11',
      port: 8285,
      localAddress: '192.168.50.10',
      localPort: 8285,
    });
    expect(reply).toBeUndefined();
    expect(h.tunWrites).toHaveLength(1);
    expect(h.tunWrites[0][8]).toBe(63);
  });

  it('answers an unowned destination with ICMP net unreachable into the TUN and logs it', () => {
    const h = recordingHost();
    flannelUdpApp.emulated(config, h.host);
    h.tun(ipv4Packet('10.244.0.2', '10.244.7.1'));
    expect(h.sent).toEqual([]);
    expect(h.tunWrites[0][9]).toBe(1);
    expect(h.logs.join('\n')).toContain('no peer owns 10.244.7.1');
  });
});

function memoryDevice() {
  const written: Uint8Array[] = [];
  let inject: ((p: Uint8Array) => void) | undefined;
  let closed = false;
  const waiters: (() => void)[] = [];
  const device: PacketDevice = {
    start: (onPacket) => {
      inject = onPacket;
    },
    write: async (p) => {
      written.push(p);
      for (const w of waiters.splice(0)) w();
    },
    close: async () => {
      closed = true;
    },
  };
  return {
    device,
    written,
    inject: (p: Uint8Array) => inject!(p),
    isClosed: () => closed,
    nextWrite: () => new Promise<void>((r) => waiters.push(r)),
  };
}

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('flannelUdpApp (run face)', () => {
  it('refuses to start without a TUN fd, naming what is missing', async () => {
    const err = await flannelUdpApp.run(config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeatureMissingError);
    expect(err).toMatchObject({ code: 'PODNET_FEATURE_MISSING', feature: 'tun' });
    expect((err as Error).message).toContain('pass config.tunFd');
  });

  it('carries packets between two real daemons over loopback UDP, both directions', async () => {
    const port = await freePort();
    const a = memoryDevice();
    const b = memoryDevice();
    const logs: string[] = [];
    const log = (l: string) => logs.push(l);
    const cfgA: FlannelUdpConfig = {
      ...config,
      port,
      localIP: '127.0.0.1',
      peers: [{ podCIDR: '10.244.1.0/24', nodeIP: '127.0.0.2' }],
    };
    const cfgB: FlannelUdpConfig = {
      ...config,
      port,
      localIP: '127.0.0.2',
      tunIP: '10.244.1.0',
      peers: [{ podCIDR: '10.244.0.0/24', nodeIP: '127.0.0.1' }],
    };
    const da = await runFlannelUdp(cfgA, a.device, { log });
    const db = await runFlannelUdp(cfgB, b.device, { log });
    try {
      expect(da.endpoints).toEqual([`udp 127.0.0.1:${port}`, 'tun flannel0']);
      const atB = b.nextWrite();
      a.inject(ipv4Packet('10.244.0.2', '10.244.1.5', { payload: 1000 }));
      await atB;
      expect(b.written[0].length).toBe(1028);
      expect(b.written[0][8]).toBe(62);
      const atA = a.nextWrite();
      b.inject(ipv4Packet('10.244.1.5', '10.244.0.2'));
      await atA;
      expect([...a.written[0].subarray(12, 16)]).toEqual([10, 244, 1, 5]);
      a.inject(new Uint8Array([0x60, 0, 0, 0]));
      expect(logs.join('\n')).toContain('dropped: not an IPv4 packet');
    } finally {
      await da.stop();
      await db.stop();
    }
    expect(a.isClosed() && b.isClosed()).toBe(true);
  });
});
