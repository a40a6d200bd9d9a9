/**
 * The real DNS server: UDP and TCP on one address, health/readiness/metrics over HTTP like CoreDNS's
 * `health`, `ready` and `prometheus` plugins. Answers come from the pure resolver through the wire
 * layer; encoded responses of cluster answers are cached keyed by the query bytes after the ID (same
 * bytes in, same bytes out), so a repeated question costs a map lookup and a two-byte ID patch.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Cidr, cidrContains, InvalidArgumentError, ipFamily, parseCidr } from '@podnet/core';
import { DnsMetrics, pluginIndex, rcodeIndex, typeIndex } from './metrics.js';
import { createResolver, type Resolver } from './resolver.js';
import { type DnsSnapshot, parseHostPort, type ResolverOptions } from './resolver-options.js';
import { forwardQuery } from './upstream.js';
import { answerQuery, completeUpstream, type WireOptions, type WireOutcome } from './wire.js';

export interface DnsServerOptions {
  /** The cluster to serve. */
  state: DnsSnapshot;
  /** UDP and TCP address, `HOST:PORT` (`[::]:53` for IPv6); port 0 picks a free port. @default '0.0.0.0:53' */
  listen?: string;
  /** `/health` endpoint address, or false. @default the listen host, port 8080 */
  health?: string | false;
  /** `/ready` endpoint address, or false. @default the listen host, port 8181 */
  ready?: string | false;
  /** `/metrics` endpoint address (Prometheus text), or false. @default the listen host, port 9153 */
  metrics?: string | false;
  /** Resolver options (zone, TTL, pods mode, upstreams, ...). @default from state.network.dns; SOA serial: time of the last update */
  resolver?: ResolverOptions;
  /** Clients (CIDRs) whose out-of-zone queries may be forwarded; others get REFUSED. @default loopback, cluster, service and underlay CIDRs */
  allowRecursionFrom?: string[];
  /** Per-upstream timeout, milliseconds. @default 2000 */
  forwardTimeoutMs?: number;
  /** Largest UDP response, bytes, whatever the client advertises. @default 4096 */
  maxUdpSize?: number;
  /** UDP payload size advertised in EDNS0 responses, bytes. @default 1232 */
  ednsBufferSize?: number;
  /** Close idle TCP connections after this many milliseconds. @default 10000 */
  tcpIdleTimeoutMs?: number;
  /** Concurrent TCP connections. @default 1000 */
  maxTcpConnections?: number;
  /** Encoded responses kept per transport. @default 10000 */
  cacheSize?: number;
}

export interface DnsServer {
  /** Where DNS is served (UDP and TCP share the port). */
  readonly address: { host: string; port: number };
  /** HTTP endpoints as `host:port`, for those enabled. */
  readonly http: { health?: string; ready?: string; metrics?: string };
  /** Human-readable list: `udp 127.0.0.1:5353`, `http 127.0.0.1:8080/health`, ... */
  readonly endpoints: string[];
  readonly resolver: Resolver;
  /** Answer from this state from now on (the cache is dropped). */
  update(state: DnsSnapshot): void;
  /** The metrics text `/metrics` serves. */
  metricsText(): string;
  stop(): Promise<void>;
}

interface CacheEntry {
  message: Buffer;
  type: number;
  rcode: number;
  plugin: number;
}

const hostPortText = (host: string, port: number) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

function parseAddress(field: string, text: string, defaultPort: number): { host: string; port: number } {
  const hp = parseHostPort(text, defaultPort);
  if (!hp) throw new InvalidArgumentError(field, `"${text}" is not HOST:PORT`);
  return hp;
}

function bindError(what: string, addr: string, e: unknown): InvalidArgumentError {
  const code = (e as NodeJS.ErrnoException)?.code ?? String(e);
  return new InvalidArgumentError('listen', `cannot bind ${what} ${addr}: ${code}`);
}

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const listen = parseAddress('listen', options.listen ?? '0.0.0.0:53', 53);
  const buildResolver = (state: DnsSnapshot) =>
    createResolver(state, {
      ...options.resolver,
      serial: options.resolver?.serial ?? Math.floor(Date.now() / 1000),
    });
  let resolver = buildResolver(options.state);
  const allowText = options.allowRecursionFrom ?? [
    '127.0.0.0/8',
    '::1/128',
    ...options.state.network.clusterCIDRs,
    ...options.state.network.serviceCIDRs,
    ...options.state.network.underlay.subnets,
  ];
  const allow: Cidr[] = allowText.map((c) => {
    try {
      return parseCidr(c);
    } catch {
      throw new InvalidArgumentError('allowRecursionFrom', `"${c}" is not a CIDR`);
    }
  });
  const allowCache = new Map<string, boolean>();
  const allowed = (ip: string): boolean => {
    const plain = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
    let ok = allowCache.get(plain);
    if (ok === undefined) {
      ok = allow.some((c) => cidrContains(c, plain));
      if (allowCache.size > 10_000) allowCache.clear();
      allowCache.set(plain, ok);
    }
    return ok;
  };
  const cacheSize = options.cacheSize ?? 10_000;
  const caches = [new Map<string, CacheEntry>(), new Map<string, CacheEntry>()];
  const wire = (transport: 'udp' | 'tcp', client: string): WireOptions => ({
    transport,
    recursion: allowed(client),
    maxUdpSize: options.maxUdpSize ?? 4096,
    ednsBufferSize: options.ednsBufferSize ?? 1232,
  });
  let metrics = new DnsMetrics(`dns://${hostPortText(listen.host, listen.port)}`);
  let ready = false;

  /** Answer one query; `send` gets the response bytes (possibly later, when an upstream is asked). */
  const handle = (
    msg: Buffer,
    proto: 0 | 1,
    client: string,
    v6: boolean,
    send: (b: Buffer) => void,
  ): void => {
    const t0 = performance.now();
    const cache = caches[proto];
    const key = msg.length >= 12 && msg.length <= 512 ? msg.toString('latin1', 2) : undefined;
    if (key !== undefined) {
      const hit = cache.get(key);
      if (hit) {
        const out = Buffer.allocUnsafe(hit.message.length);
        hit.message.copy(out);
        out[0] = msg[0];
        out[1] = msg[1];
        send(out);
        metrics.observe(proto, v6, hit.type, hit.rcode, hit.plugin, (performance.now() - t0) / 1000);
        return;
      }
    }
    const opts = wire(proto === 0 ? 'udp' : 'tcp', client);
    let outcome: WireOutcome;
    try {
      outcome = answerQuery(resolver, msg, opts);
    } catch {
      metrics.drop('internal', proto, v6);
      return;
    }
    const finish = (o: Extract<WireOutcome, { kind: 'reply' }>) => {
      const entry: CacheEntry = {
        message: o.message,
        type: typeIndex(o.qtype),
        rcode: rcodeIndex(o.rcode),
        plugin: pluginIndex(o.source),
      };
      if (o.cacheable && key !== undefined) {
        if (cache.size >= cacheSize) cache.clear();
        cache.set(key, entry);
      }
      send(o.message);
      metrics.observe(proto, v6, entry.type, entry.rcode, entry.plugin, (performance.now() - t0) / 1000);
    };
    if (outcome.kind === 'drop') metrics.drop(outcome.reason, proto, v6);
    else if (outcome.kind === 'reply') finish(outcome);
    else {
      const pending = outcome;
      forwardQuery(pending.query, resolver.options.upstreams, {
        timeoutMs: options.forwardTimeoutMs ?? 2000,
        tcp: proto === 1,
      }).then(
        (reply) => finish(completeUpstream(pending, reply, opts)),
        () => finish(completeUpstream(pending, undefined, opts)),
      );
    }
  };

  // UDP
  // Replies go to the address the query came from, always an IP literal: resolve it synchronously
  // instead of dgram's default dns.lookup (a nextTick and a regexp per datagram).
  const family = ipFamily(listen.host);
  const udp = dgram.createSocket({
    type: family === 6 ? 'udp6' : 'udp4',
    lookup: ((address: string, _options: unknown, cb: (e: Error | null, a: string, f: number) => void) =>
      cb(null, address, address.includes(':') ? 6 : 4)) as any,
  });
  udp.on('error', () => {});
  udp.on('message', (msg, rinfo) => {
    handle(msg, 0, rinfo.address, rinfo.family === 'IPv6', (b) => udp.send(b, rinfo.port, rinfo.address));
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', (e) => reject(bindError('udp', hostPortText(listen.host, listen.port), e)));
    udp.bind(listen.port, listen.host, () => resolve());
  });
  try {
    udp.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // The kernel caps the buffer at net.core.rmem_max; the default still works.
  }
  const port = udp.address().port;

  // TCP (RFC 7766: length-prefixed messages, pipelined, answered possibly out of order)
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((sock) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(options.tcpIdleTimeoutMs ?? 10_000, () => sock.destroy());
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    const client = sock.remoteAddress ?? '';
    const v6 = sock.remoteFamily === 'IPv6';
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = buf.length > 0 ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        handle(msg, 1, client, v6, (b) => {
          if (sock.destroyed) return;
          const len2 = Buffer.allocUnsafe(2);
          len2.writeUInt16BE(b.length);
          sock.write(Buffer.concat([len2, b]));
        });
      }
    });
  });
  tcp.maxConnections = options.maxTcpConnections ?? 1000;
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', (e) => reject(bindError('tcp', hostPortText(listen.host, port), e)));
      tcp.listen(port, listen.host, () => resolve());
    });
  } catch (e) {
    udp.close();
    throw e;
  }
  tcp.on('error', () => {});

  // HTTP: health, ready, metrics (one server per distinct address)
  const routes: { path: 'health' | 'ready' | 'metrics'; addr: { host: string; port: number } }[] = [];
  const defaults = { health: 8080, ready: 8181, metrics: 9153 } as const;
  for (const path of ['health', 'ready', 'metrics'] as const) {
    const v = options[path];
    if (v === false) continue;
    routes.push({
      path,
      addr: parseAddress(path, v ?? hostPortText(listen.host, defaults[path]), defaults[path]),
    });
  }
  const groups = new Map<string, { addr: { host: string; port: number }; paths: Set<string> }>();
  routes.forEach((r, i) => {
    const k = r.addr.port === 0 ? `#${i}` : hostPortText(r.addr.host, r.addr.port);
    const g = groups.get(k) ?? { addr: r.addr, paths: new Set<string>() };
    g.paths.add(r.path);
    groups.set(k, g);
  });
  const httpServers: http.Server[] = [];
  const httpAddr: DnsServer['http'] = {};
  const close = async () => {
    udp.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => tcp.close(() => r()));
    for (const h of httpServers) {
      h.closeAllConnections();
      await new Promise<void>((r) => h.close(() => r()));
    }
  };
  try {
    for (const g of groups.values()) {
      const server = http.createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0].replace(/^\//, '');
        if (!g.paths.has(path)) {
          res.writeHead(404).end('404 page not found\n');
        } else if (path === 'health') {
          res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
        } else if (path === 'ready') {
          res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'OK' : 'kubernetes');
        } else {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.text());
        }
      });
      httpServers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e) => reject(bindError('http', hostPortText(g.addr.host, g.addr.port), e)));
        server.listen(g.addr.port, g.addr.host, () => resolve());
      });
      server.on('error', () => {});
      const a = server.address() as net.AddressInfo;
      for (const p of g.paths) httpAddr[p as keyof DnsServer['http']] = hostPortText(g.addr.host, a.port);
    }
  } catch (e) {
    await close();
    throw e;
  }
  metrics = new DnsMetrics(`dns://${hostPortText(listen.host, port)}`);
  ready = true;

  const hp = hostPortText(listen.host, port);
  return {
    address: { host: listen.host, port },
    http: httpAddr,
    endpoints: [
      `udp ${hp}`,
      `tcp ${hp}`,
      ...(['health', 'ready', 'metrics'] as const)
        .filter((p) => httpAddr[p])
        .map((p) => `http ${httpAddr[p]}/${p}`),
    ],
    get resolver() {
      return resolver;
    },
    update(state: DnsSnapshot) {
      resolver = buildResolver(state);
      for (const c of caches) c.clear();
    },
    metricsText: () => metrics.text(),
    async stop() {
      ready = false;
      await close();
    },
  };
}
