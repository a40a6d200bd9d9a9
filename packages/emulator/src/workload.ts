/**
 * The built-in pod workload (`workload` app, config `WorkloadConfig`): on every declared TCP port
 * it answers HTTP/1.x requests with the pod's name and echoes anything else; on UDP ports it
 * echoes datagrams, like the agnhost test image. SCTP ports are not served.
 *
 * Two faces: `emulated` binds handlers on emulated sockets; `run` starts real node:net/node:http
 * and node:dgram servers on all addresses (the linux backend starts it inside the pod's netns;
 * a container `command` is the linux backend's to run instead).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import {
  type AppModule,
  InvalidArgumentError,
  type RunningApp,
  SPECIFICATION_VERSION,
  type WorkloadConfig,
} from '@podnet/core';

const HTTP_REQUEST_LINE = /^[A-Z]{3,10} \S+ HTTP\/1\.[01]\r?\n/;
const latin1 = new TextDecoder('latin1');
const utf8 = new TextEncoder();

/** True when the bytes start with an HTTP/1.x request line. */
export function looksLikeHttp(bytes: Uint8Array): boolean {
  return HTTP_REQUEST_LINE.test(latin1.decode(bytes.subarray(0, 1024)));
}

/** The minimal HTTP/1.1 200 response whose body is `body` (no body for HEAD). */
export function httpResponse(body: string, head = false): Uint8Array {
  const b = utf8.encode(body);
  const header = `HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n`;
  const h = utf8.encode(header);
  const out = new Uint8Array(h.length + (head ? 0 : b.length));
  out.set(h);
  if (!head) out.set(b, h.length);
  return out;
}

function ports(config: WorkloadConfig): { port: number; protocol: 'TCP' | 'UDP' }[] {
  if (typeof config !== 'object' || config === null || !config.pod || !Array.isArray(config.ports)) {
    throw new InvalidArgumentError(
      'workload config',
      'expected { pod: { namespace, name }, ports: [{ port, protocol }] }',
    );
  }
  const seen = new Set<string>();
  const out: { port: number; protocol: 'TCP' | 'UDP' }[] = [];
  for (const p of config.ports) {
    if (p.protocol === 'SCTP') continue;
    if (!Number.isInteger(p.port) || p.port < 0 || p.port > 65535) {
      throw new InvalidArgumentError(
        'workload config',
        `pod ${config.pod.namespace}/${config.pod.name}: port ${p.port} is outside 0-65535`,
      );
    }
    const key = `${p.protocol}/${p.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ port: p.port, protocol: p.protocol });
  }
  return out;
}

/** What the workload answers on a TCP connection that sent `request`. */
export function workloadTcpAnswer(podName: string, request: Uint8Array): Uint8Array {
  if (looksLikeHttp(request)) return httpResponse(podName, latin1.decode(request.subarray(0, 5)) === 'HEAD ');
  return request;
}

export const workloadApp: AppModule<WorkloadConfig> = {
  specificationVersion: SPECIFICATION_VERSION,
  id: 'workload',
  entry: '@podnet/emulator/workload',

  emulated(config, host) {
    const name = config?.pod?.name;
    for (const p of ports(config)) {
      if (p.protocol === 'TCP') host.listenTcp(p.port, (request) => workloadTcpAnswer(name, request));
      else host.listenUdp(p.port, (payload) => payload);
    }
  },

  async run(config) {
    const name = config.pod.name;
    const list = ports(config);
    const tcp: Server[] = [];
    const open = new Set<Socket>();
    const udp: UdpSocket[] = [];
    const endpoints: string[] = [];
    try {
      for (const p of list) {
        if (p.protocol === 'TCP') {
          const { server, endpoint } = await listenTcp(p.port, name, open);
          tcp.push(server);
          endpoints.push(endpoint);
        } else {
          const { socket, endpoint } = await listenUdp(p.port);
          udp.push(socket);
          endpoints.push(endpoint);
        }
      }
    } catch (e) {
      await stopAll(tcp, udp);
      throw e;
    }
    const app: RunningApp = {
      endpoints,
      stop: async () => {
        for (const s of open) s.destroy();
        await stopAll(tcp, udp);
      },
    };
    return app;
  },
};

export default workloadApp;

async function stopAll(tcp: Server[], udp: UdpSocket[]): Promise<void> {
  await Promise.all([
    ...tcp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    ...udp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  ]);
}

function listenTcp(
  port: number,
  name: string,
  open: Set<Socket>,
): Promise<{ server: Server; endpoint: string }> {
  const http = createHttpServer((req, res) => {
    const body = utf8.encode(name);
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  const server = createTcpServer((sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    sock.once('data', (chunk: Buffer) => {
      if (looksLikeHttp(chunk)) {
        sock.pause();
        sock.unshift(chunk);
        http.emit('connection', sock);
        process.nextTick(() => sock.resume());
      } else {
        sock.write(chunk);
        sock.pipe(sock);
      }
    });
    sock.on('error', () => sock.destroy());
  });
  return bindEither(
    (host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host }, () => {
          server.off('error', reject);
          const a = server.address();
          const actual = typeof a === 'object' && a ? a.port : port;
          resolve({ server, endpoint: `tcp ${host === '::' ? '[::]' : host}:${actual}` });
        });
      }),
  );
}

function listenUdp(port: number): Promise<{ socket: UdpSocket; endpoint: string }> {
  return bindEither(
    (host) =>
      new Promise((resolve, reject) => {
        const socket = createSocket({ type: host === '::' ? 'udp6' : 'udp4', ipv6Only: false });
        socket.once('error', reject);
        socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
        socket.bind(port, host, () => {
          socket.off('error', reject);
          socket.on('error', () => undefined);
          resolve({ socket, endpoint: `udp ${host === '::' ? '[::]' : host}:${socket.address().port}` });
        });
      }),
  );
}

/** Binds dual-stack on `::`, falling back to `0.0.0.0` where the namespace has no IPv6. */
async function bindEither<T>(bind: (host: string) => Promise<T>): Promise<T> {
  try {
    return await bind('::');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' || code === 'EPROTONOSUPPORT')
      return bind('0.0.0.0');
    throw e;
  }
}
