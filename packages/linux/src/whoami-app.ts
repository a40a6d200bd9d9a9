/**
 * `whoami`: a probe server for differential checks between backends. On every declared TCP and UDP
 * port it answers with one JSON line naming the pod and the connection as the server's socket sees
 * it: `{"pod":"default/web-0","client":"10.244.1.2","clientPort":41234,"local":"10.244.2.2","localPort":8080}`
 * (an HTTP request gets it as the body of a 200; for UDP `local` is the bound address, 0.0.0.0). The emulated face computes the same line from
 * the emulator's PeerInfo, so both backends can be compared field by field: who answered (the
 * DNAT choice) and which source address the server saw (SNAT or not).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import {
  type AppModule,
  InvalidArgumentError,
  type PeerInfo,
  type RunningApp,
  SPECIFICATION_VERSION,
} from '@podnet/core';

/** Same shape as the workload's config: the pod and its ports. */
export interface WhoamiConfig {
  pod: { namespace: string; name: string };
  ports: { port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }[];
}

export interface WhoamiReply {
  pod: string;
  client: string;
  clientPort: number;
  local: string;
  localPort: number;
}

const enc = new TextEncoder();
const HTTP = /^[A-Z]{3,10} \S+ HTTP\/1\.[01]\r?\n/;

/** Strips the IPv4-mapped prefix a dual-stack socket reports (`::ffff:10.0.0.1`). */
function plain(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export function whoamiLine(pod: string, peer: PeerInfo): string {
  const r: WhoamiReply = {
    pod,
    client: plain(peer.address),
    clientPort: peer.port,
    local: plain(peer.localAddress),
    localPort: peer.localPort,
  };
  return `${JSON.stringify(r)}\n`;
}

/** The reply bytes for a request (HTTP gets a 200 with the line as body). */
export function whoamiAnswer(pod: string, request: Uint8Array, peer: PeerInfo): Uint8Array {
  const line = whoamiLine(pod, peer);
  const head = new TextDecoder('latin1').decode(request.subarray(0, 256));
  if (!HTTP.test(head)) return enc.encode(line);
  return enc.encode(
    `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${enc.encode(line).length}\r\nConnection: close\r\n\r\n${line}`,
  );
}

/** Parses a reply (raw line or HTTP response); undefined when it is not a whoami line. */
export function parseWhoami(reply: string): WhoamiReply | undefined {
  const body = reply.includes('\r\n\r\n') ? reply.slice(reply.indexOf('\r\n\r\n') + 4) : reply;
  try {
    const v = JSON.parse(body.trim()) as WhoamiReply;
    return typeof v?.pod === 'string' && typeof v.client === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function check(config: WhoamiConfig): { pod: string; ports: { port: number; protocol: 'TCP' | 'UDP' }[] } {
  if (!config?.pod?.name || !Array.isArray(config.ports)) {
    throw new InvalidArgumentError(
      'whoami config',
      'expected { pod: { namespace, name }, ports: [{ port, protocol }] }',
    );
  }
  const ports = config.ports.filter(
    (p): p is { port: number; protocol: 'TCP' | 'UDP' } => p.protocol !== 'SCTP',
  );
  for (const p of ports) {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)
      throw new InvalidArgumentError('whoami config', `port ${p.port} is outside 1-65535`);
  }
  return { pod: `${config.pod.namespace}/${config.pod.name}`, ports };
}

export const whoamiApp: AppModule<WhoamiConfig> = {
  specificationVersion: SPECIFICATION_VERSION,
  id: 'whoami',
  entry: '@podnet/linux/whoami',
  emulated(config, host) {
    const { pod, ports } = check(config);
    for (const p of ports) {
      if (p.protocol === 'TCP') host.listenTcp(p.port, (req, peer) => whoamiAnswer(pod, req, peer));
      // A UDP socket bound to all addresses does not learn a datagram's destination (no IP_PKTINFO
      // in Node): both faces report the bound address.
      else
        host.listenUdp(p.port, (_payload, peer) =>
          enc.encode(whoamiLine(pod, { ...peer, localAddress: '0.0.0.0' })),
        );
    }
  },
  async run(config) {
    const { pod, ports } = check(config);
    const tcp: Server[] = [];
    const udp: UdpSocket[] = [];
    const open = new Set<Socket>();
    const endpoints: string[] = [];
    for (const p of ports) {
      if (p.protocol === 'TCP') {
        const server = createServer((sock) => {
          open.add(sock);
          sock.once('close', () => open.delete(sock));
          sock.on('error', () => sock.destroy());
          sock.once('data', (chunk: Buffer) => {
            const peer: PeerInfo = {
              address: sock.remoteAddress ?? '',
              port: sock.remotePort ?? 0,
              localAddress: sock.localAddress ?? '',
              localPort: sock.localPort ?? 0,
            };
            sock.end(whoamiAnswer(pod, chunk, peer));
          });
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port: p.port, host: '0.0.0.0' }, () => resolve());
        });
        tcp.push(server);
        endpoints.push(`tcp 0.0.0.0:${p.port}`);
      } else {
        const socket = createSocket('udp4');
        socket.on('message', (_msg, rinfo) => {
          const a = socket.address();
          const line = whoamiLine(pod, {
            address: rinfo.address,
            port: rinfo.port,
            localAddress: a.address,
            localPort: a.port,
          });
          socket.send(line, rinfo.port, rinfo.address);
        });
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(p.port, '0.0.0.0', () => resolve());
        });
        udp.push(socket);
        endpoints.push(`udp 0.0.0.0:${p.port}`);
      }
    }
    const app: RunningApp = {
      endpoints,
      async stop() {
        for (const s of open) s.destroy();
        await Promise.all([
          ...tcp.map((s) => new Promise<void>((r) => s.close(() => r()))),
          ...udp.map((s) => new Promise<void>((r) => s.close(() => r()))),
        ]);
      },
    };
    return app;
  },
};

export default whoamiApp;
