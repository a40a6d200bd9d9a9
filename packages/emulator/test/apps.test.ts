import { createConnection } from 'node:net';
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { type AppModule, type ClusterDataplane, type EmulatedHost, PodnetError, SPECIFICATION_VERSION, type WorkloadConfig } from '@podnet/core';
import { emulator, flannelStylePlan, workloadApp } from '@podnet/emulator';
import { node } from './helpers.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const GET = enc.encode('GET / HTTP/1.1\r\nHost: web\r\n\r\n');

function app<C>(id: string, emulated: AppModule<C>['emulated']): AppModule<C> {
  return {
    specificationVersion: SPECIFICATION_VERSION,
    id,
    emulated,
    run: async () => ({ endpoints: [], stop: async () => undefined }),
  };
}

describe('the built-in workload, emulated', () => {
  it('answers HTTP with the pod name and echoes other TCP bytes', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2 }));
    const http = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80', payload: GET });
    expect(http.verdict).toBe('delivered');
    const text = dec.decode(http.response);
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text).toContain('Content-Length: 7\r\n');
    expect(text.endsWith('\r\n\r\npod-1-0')).toBe(true);
    const echo = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80', payload: enc.encode('hello') });
    expect(dec.decode(echo.response)).toBe('hello');
  });

  it('serves every declared port and nothing else', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1 }));
    expect(net.namespace('node-0', 'default/pod-0-0').listeners()).toEqual([
      { proto: 'tcp', port: 80, app: 'workload:default/pod-0-0' },
      { proto: 'udp', port: 5353, app: 'workload:default/pod-0-0' },
    ]);
  });
});

describe('apps that open the next leg', () => {
  it('a proxy app forwards the request with requestTcp and the trace follows it to the backend', async () => {
    const plan = flannelStylePlan({ nodes: 2, podsPerNode: 2 });
    node(plan, 'node-0').apps.push({ name: 'proxy:default/pod-0-0', netns: 'default/pod-0-0', app: 'proxy', config: { target: '10.244.1.2', port: 80 } });
    const proxy = app<{ target: string; port: number }>('proxy', (config, host) => {
      host.listenTcp(8080, (request) => {
        host.log(`forwarding to ${config.target}:${config.port}`);
        const r = host.requestTcp(config.target, config.port, request);
        return r.ok ? r.reply : enc.encode('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      });
    });
    const net = await emulator().apply(plan, { apps: new Map([['proxy', proxy]]) });
    const r = net.trace({ from: 'default/pod-0-1', to: 'default/pod-0-0:8080', payload: GET });
    expect(r.verdict).toBe('delivered');
    expect(r.delivered).toMatchObject({ node: 'node-1', pod: 'default/pod-1-0', port: 80 });
    expect(dec.decode(r.response).endsWith('pod-1-0')).toBe(true);
    const delivers = r.hops.filter((h) => h.step === 'deliver').map((h) => `${h.netns} ${h.detail}`);
    expect(delivers).toEqual([
      'default/pod-0-0 tcp listener *:8080 (proxy:default/pod-0-0)',
      'default/pod-1-0 tcp listener *:80 (workload:default/pod-1-0)',
      expect.stringMatching(/^default\/pod-0-0 to the socket that sent it \(tcp 10\.244\.0\.2:\d+\)$/), // the backend's SYN-ACK reaches the proxy
    ]);
    expect(r.hops.find((h) => h.step === 'app')?.detail).toBe('proxy:default/pod-0-0: forwarding to 10.244.1.2:80');
    expect(net.namespace('node-0', 'default/pod-0-0').log()).toEqual(['proxy:default/pod-0-0: forwarding to 10.244.1.2:80']);
    expect(r.reply?.verdict).toBe('delivered');
    expect(r.reply!.hops.at(-1)).toMatchObject({ netns: 'default/pod-0-1', step: 'deliver' });
  });

  it('a proxy whose backend refuses gets "refused" and the trace ends rejected', async () => {
    const plan = flannelStylePlan({ nodes: 2 });
    node(plan, 'node-0').apps.push({ name: 'proxy', netns: 'root', app: 'proxy', config: {} });
    let seen: unknown;
    const proxy = app('proxy', (_c, host) => {
      host.listenTcp(9000, (request) => {
        seen = host.requestTcp('10.244.1.2', 81, request);
        return enc.encode('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      });
    });
    const net = await emulator().apply(plan, { apps: new Map([['proxy', proxy]]) });
    const r = net.trace({ from: 'default/pod-0-0', to: '192.168.50.10:9000' });
    expect(seen).toEqual({ ok: false, error: 'refused' });
    expect(r.verdict).toBe('rejected');
    expect(r.reason).toBe('tcp port 81 closed in node-1/default/pod-1-0 (TCP RST)');
    expect(dec.decode(r.response)).toContain('502');
  });
});

/** flannel's udp backend, reduced: a TUN per node and a daemon that carries IP packets in UDP 8285. */
function udpOverlayPlan(): ClusterDataplane {
  const plan = flannelStylePlan({ nodes: 2, podMtu: 1472 });
  for (const n of plan.nodes) {
    n.links = n.links.filter((l) => l.name !== 'flannel.1');
    n.addresses = n.addresses.filter((a) => a.dev !== 'flannel.1');
    n.neighbors = [];
    n.fdb = [];
    n.routes = n.routes.filter((r) => r.dev !== 'flannel.1');
    const i = Number(n.node.slice(5));
    n.links.push({ kind: 'tun', name: 'flannel0', netns: 'root', mtu: 1472, owner: 'flanneld' });
    n.addresses.push({ netns: 'root', dev: 'flannel0', cidr: `10.244.${i}.0/16`, noprefixroute: true });
    n.routes.push({ netns: 'root', dst: '10.244.0.0/16', family: 4, dev: 'flannel0' });
    n.apps.push({ name: 'flanneld', netns: 'root', app: 'udp-overlay', config: {} });
  }
  return plan;
}

const udpOverlay = app('udp-overlay', (_c, host) => {
  const tun = host.openTun('flannel0', (packet) => {
    const remote = `192.168.50.${10 + packet[18]}`; // third octet of the IPv4 destination = node index
    host.sendUdp(remote, 8285, packet, { sourcePort: 8285 });
  });
  host.listenUdp(8285, (payload) => {
    tun.write(payload);
    return undefined;
  });
});

describe('UDP from a port the app listens on', () => {
  /** node-0: `daemon` listens on 10.244.0.1:7000 (cni0, not the route's source); node-1: `echo` answers `pong` on *:7000. */
  async function daemons() {
    const plan = flannelStylePlan({ nodes: 2 });
    node(plan, 'node-0').apps.push({ name: 'daemon', netns: 'root', app: 'daemon', config: {} });
    node(plan, 'node-1').apps.push({ name: 'echo', netns: 'root', app: 'echo', config: {} });
    const heard: string[] = [];
    let host: EmulatedHost | undefined;
    const daemon = app('daemon', (_c, h) => {
      host = h;
      h.listenUdp(7000, (payload, peer) => {
        heard.push(`${dec.decode(payload)} from ${peer.address}:${peer.port} to ${peer.localAddress}:${peer.localPort}`);
        return undefined;
      }, '10.244.0.1');
    });
    const echo = app('echo', (_c, h) =>
      h.listenUdp(7000, (payload, peer) => {
        heard.push(`echo got ${dec.decode(payload)} from ${peer.address}:${peer.port}`);
        return enc.encode('pong');
      }),
    );
    await emulator().apply(plan, { apps: new Map([['daemon', daemon], ['echo', echo]]) });
    return { host: host!, heard };
  }

  it('leaves by the listening socket, from its address: the answer goes to the handler, not into the result', async () => {
    const { host, heard } = await daemons();
    expect(host.sendUdp('192.168.50.11', 7000, enc.encode('ping'), { sourcePort: 7000 })).toEqual({ ok: true });
    expect(heard).toEqual(['echo got ping from 10.244.0.1:7000', 'pong from 192.168.50.11:7000 to 10.244.0.1:7000']);
  });

  it('a port the app does not listen on is a transient socket whose answer is the reply', async () => {
    const { host, heard } = await daemons();
    const r = host.sendUdp('192.168.50.11', 7000, enc.encode('ping'), { sourcePort: 7001 });
    expect(r.ok).toBe(true);
    expect(dec.decode(r.reply)).toBe('pong');
    expect(heard).toEqual(['echo got ping from 192.168.50.10:7001']);
  });

  it('reports how the datagram ended when no socket took it', async () => {
    const { host } = await daemons();
    expect(host.sendUdp('192.168.50.11', 7999, enc.encode('ping'), { sourcePort: 7000 })).toEqual({ ok: false, error: 'refused' });
    expect(() => host.sendUdp('192.168.50.11', 7000, enc.encode('ping'), { sourcePort: 70000 })).toThrow(
      expect.objectContaining({ code: 'PODNET_INVALID_ARGUMENT', message: expect.stringContaining('70000 is outside 1-65535') }),
    );
  });
});

describe('TUN devices', () => {
  it('packets routed into a TUN go to its app, which carries them in UDP; the remote app injects them and the trace follows', async () => {
    const net = await emulator().apply(udpOverlayPlan(), { apps: new Map([['udp-overlay', udpOverlay]]) });
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    expect(r.verdict).toBe('delivered');
    expect(r.delivered).toMatchObject({ node: 'node-1', pod: 'default/pod-1-0', port: 80 });
    const key = r.hops
      .filter((h) => ['tun', 'deliver'].includes(h.step) || (h.step === 'recv' && h.device === 'flannel0'))
      .map((h) => `${h.node} ${h.device} ${h.step} ${h.detail}`);
    expect(key).toEqual([
      'node-0 flannel0 tun to app flanneld (40 bytes)',
      'node-1 eth0 deliver udp socket *:8285 (flanneld)',
      'node-1 flannel0 recv written by app flanneld',
      'node-1 eth0 deliver tcp listener *:80 (workload:default/pod-1-0)',
    ]);
    const carrier = r.hops.find((h) => h.node === 'node-0' && h.step === 'send' && h.packet.dport === 8285)!;
    expect(carrier.packet).toMatchObject({ src: '192.168.50.10', dst: '192.168.50.11', proto: 'udp', sport: 8285, length: 68 });
    expect(r.reply?.verdict).toBe('delivered');
    expect(r.reply!.hops.some((h) => h.node === 'node-1' && h.step === 'tun')).toBe(true);
    expect(r.reply!.hops.at(-1)).toMatchObject({ netns: 'default/pod-0-0', step: 'deliver' });
  });

  it('a TUN nobody opened drops what is routed into it', async () => {
    const net = await emulator().apply(udpOverlayPlan(), { apps: new Map([['udp-overlay', app('udp-overlay', () => undefined)]]) });
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    expect(r.verdict).toBe('dropped');
    expect(r.reason).toBe('TUN node-0/root/flannel0 has no reader');
  });
});

describe('app errors', () => {
  it('refuses an app module missing from the registry', async () => {
    const plan = flannelStylePlan({ nodes: 1 });
    node(plan, 'node-0').apps.push({ name: 'dns', netns: 'root', app: 'dns', config: {} });
    await expect(emulator().apply(plan)).rejects.toMatchObject({ code: 'PODNET_NOT_FOUND', message: expect.stringContaining('app dns needs app module "dns"') });
  });

  it('refuses two sockets on one port (EADDRINUSE) and an address the namespace does not have', async () => {
    const plan = flannelStylePlan({ nodes: 1 });
    node(plan, 'node-0').apps.push({ name: 'second', netns: 'default/pod-0-0', app: 'workload', config: { pod: { namespace: 'default', name: 'x' }, ports: [{ port: 80, protocol: 'TCP' }] } });
    const e = await emulator().apply(plan).catch((x) => x);
    expect(PodnetError.is(e)).toBe(true);
    expect(e.message).toBe('app second in node-0/default/pod-0-0: tcp port 80 is already bound by workload:default/pod-0-0 (EADDRINUSE)');
    const plan2 = flannelStylePlan({ nodes: 1 });
    node(plan2, 'node-0').apps.push({ name: 'b', netns: 'root', app: 'bind', config: {} });
    const bind = app('bind', (_c, host) => host.listenUdp(53, () => undefined, '10.1.2.3'));
    await expect(emulator().apply(plan2, { apps: new Map([['bind', bind]]) })).rejects.toMatchObject({ code: 'PODNET_PLAN_CONFLICT', message: expect.stringContaining('EADDRNOTAVAIL') });
  });
});

describe('the built-in workload, for real (run)', () => {
  it('serves HTTP with the pod name, echoes TCP and UDP on loopback', async () => {
    const config: WorkloadConfig = { pod: { namespace: 'default', name: 'web-0' }, ports: [{ port: 0, protocol: 'TCP' }, { port: 0, protocol: 'UDP' }] };
    const running = await workloadApp.run(config);
    try {
      const port = (proto: string) => Number(running.endpoints.find((e) => e.startsWith(proto))!.split(':').at(-1));
      const res = await fetch(`http://127.0.0.1:${port('tcp')}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('web-0');
      const echoed = await new Promise<string>((resolve, reject) => {
        const s = createConnection({ host: '127.0.0.1', port: port('tcp') }, () => s.write('not http\n'));
        s.once('data', (d) => {
          resolve(d.toString());
          s.destroy();
        });
        s.once('error', reject);
      });
      expect(echoed).toBe('not http\n');
      const udp = await new Promise<string>((resolve, reject) => {
        const s = createSocket('udp4');
        s.once('message', (m) => {
          resolve(m.toString());
          s.close();
        });
        s.once('error', reject);
        s.send('datagram', port('udp'), '127.0.0.1');
      });
      expect(udp).toBe('datagram');
    } finally {
      await running.stop();
    }
  });
});
