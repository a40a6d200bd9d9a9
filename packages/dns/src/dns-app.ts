/**
 * The DNS server as an app: `run` starts the real server in the current namespace, `emulated`
 * binds the same resolver and wire layer on the emulator's sockets (port 53, UDP and TCP), so DNS
 * pods answer real DNS packets in an emulated cluster, plus CoreDNS's HTTP endpoints on TCP
 * (`/health` 8080, `/ready` 8181, `/metrics` 9153, or the ports `health`/`ready`/`metrics` name).
 */
import {
  type AppModule,
  cidrContains,
  type EmulatedHost,
  InvalidArgumentError,
  type PeerInfo,
  parseCidr,
  type RunningApp,
  SPECIFICATION_VERSION,
} from '@podnet/core';
import { DnsMetrics, pluginIndex, rcodeIndex, typeIndex } from './metrics.js';
import { createResolver } from './resolver.js';
import { type DnsSnapshot, parseHostPort, type ResolverOptions } from './resolver-options.js';
import { startDnsServer } from './server.js';
import { answerQuery, completeUpstream, type WireOptions, type WireOutcome } from './wire.js';

/** JSON-serialisable configuration of one DNS server instance. */
export interface DnsAppConfig {
  snapshot: DnsSnapshot;
  /** Real server: UDP/TCP address. @default '0.0.0.0:53' */
  listen?: string;
  /** `/health` address or false (emulated: its port, on every address). @default port 8080 */
  health?: string | false;
  /** `/ready` address or false (emulated: its port, on every address). @default port 8181 */
  ready?: string | false;
  /** `/metrics` address or false (emulated: its port, on every address). @default port 9153 */
  metrics?: string | false;
  /** Emulated: the port bound on every address of the namespace. @default 53 */
  port?: number;
  resolver?: ResolverOptions;
  /** CIDRs whose out-of-zone queries may be forwarded. @default loopback, cluster, service and underlay CIDRs */
  allowRecursionFrom?: string[];
}

type HttpPath = 'health' | 'ready' | 'metrics';
const HTTP_DEFAULTS: Record<HttpPath, number> = { health: 8080, ready: 8181, metrics: 9153 };
const latin1 = new TextDecoder('latin1');

/** The ports of the HTTP endpoints and the paths each serves (CoreDNS's defaults, or the config's). */
function httpPorts(config: DnsAppConfig): Map<number, Set<HttpPath>> {
  const out = new Map<number, Set<HttpPath>>();
  for (const path of ['health', 'ready', 'metrics'] as const) {
    const v = config[path];
    if (v === false) continue;
    const hp = v === undefined ? { port: HTTP_DEFAULTS[path] } : parseHostPort(v, HTTP_DEFAULTS[path]);
    if (!hp || hp.port === 0)
      throw new InvalidArgumentError(`dns app ${path}`, `"${String(v)}" is not HOST:PORT`);
    out.set(hp.port, (out.get(hp.port) ?? new Set()).add(path));
  }
  return out;
}

/** One HTTP/1.1 response, `Connection: close` (the emulator models one request per connection). */
function httpReply(status: string, contentType: string, body: string, head: boolean): Uint8Array {
  const b = Buffer.from(body, 'utf8');
  const header = `HTTP/1.1 ${status}\r\nContent-Type: ${contentType}\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), head ? Buffer.alloc(0) : b]);
}

/** Answer one HTTP request for `paths` as CoreDNS's health, ready and prometheus plugins do. */
function dnsHttpAnswer(
  request: Uint8Array,
  paths: ReadonlySet<HttpPath>,
  metrics: () => string,
): Uint8Array | undefined {
  const line = /^(GET|HEAD) (\S+) HTTP\/1\.[01]\r?\n/.exec(latin1.decode(request.subarray(0, 2048)));
  if (!line) {
    if (!/^[A-Z]+ \S+ HTTP\/\d/.test(latin1.decode(request.subarray(0, 64)))) return undefined;
    return httpReply('405 Method Not Allowed', 'text/plain; charset=utf-8', '', false);
  }
  const head = line[1] === 'HEAD';
  const path = line[2].split('?')[0].replace(/^\//, '');
  if (!paths.has(path as HttpPath))
    return httpReply('404 Not Found', 'text/plain; charset=utf-8', '404 page not found\n', head);
  if (path === 'metrics') return httpReply('200 OK', 'text/plain; version=0.0.4', metrics(), head);
  return httpReply('200 OK', 'text/plain', 'OK', head);
}

function emulated(config: DnsAppConfig, host: EmulatedHost): void {
  const resolver = createResolver(config.snapshot, config.resolver);
  const net = config.snapshot.network;
  const allow = (
    config.allowRecursionFrom ?? [
      '127.0.0.0/8',
      '::1/128',
      ...net.clusterCIDRs,
      ...net.serviceCIDRs,
      ...net.underlay.subnets,
    ]
  ).map((c) => parseCidr(c));
  const port = config.port ?? 53;
  const http = httpPorts(config);
  const metrics = new DnsMetrics(`dns://:${port}`);
  const answer = (payload: Uint8Array, peer: PeerInfo, transport: 'udp' | 'tcp'): Uint8Array | undefined => {
    const proto = transport === 'udp' ? 0 : 1;
    const v6 = peer.address.includes(':');
    const opts: WireOptions = { transport, recursion: allow.some((c) => cidrContains(c, peer.address)) };
    const count = (o: Extract<WireOutcome, { kind: 'reply' }>) => {
      // The emulator's clock is virtual: every answer counts in the first latency bucket.
      metrics.observe(proto, v6, typeIndex(o.qtype), rcodeIndex(o.rcode), pluginIndex(o.source), 0);
      return o.message;
    };
    const outcome = answerQuery(resolver, payload, opts);
    if (outcome.kind === 'drop') {
      metrics.drop(outcome.reason, proto, v6);
      return undefined;
    }
    if (outcome.kind === 'reply') return count(outcome);
    // Forward (or chase a CNAME target) through the emulated network, synchronously.
    let reply: Uint8Array | undefined;
    for (const u of resolver.options.upstreams) {
      const hp = parseHostPort(u, 53);
      if (!hp) continue;
      const r = host.sendUdp(hp.host, hp.port, outcome.query);
      if (r.ok && r.reply) {
        reply = r.reply;
        break;
      }
    }
    host.log(
      `dns: ${outcome.mode} ${outcome.request.question.name} ${outcome.qtype}: ${reply ? 'answered' : 'no upstream answered'}`,
    );
    return count(completeUpstream(outcome, reply, opts));
  };
  host.listenUdp(port, (payload, peer) => answer(payload, peer, 'udp'));
  host.listenTcp(port, (request, peer) => {
    // A TCP exchange carries length-prefixed messages; answer each, in order.
    const out: Uint8Array[] = [];
    let off = 0;
    while (off + 2 <= request.length) {
      const len = (request[off] << 8) | request[off + 1];
      if (off + 2 + len > request.length) break;
      const r = answer(request.subarray(off + 2, off + 2 + len), peer, 'tcp');
      off += 2 + len;
      if (!r) continue;
      out.push(Uint8Array.of(r.length >> 8, r.length & 0xff), r);
    }
    return out.length > 0 ? Buffer.concat(out) : undefined;
  });
  for (const [p, paths] of http) {
    if (p === port) continue;
    host.listenTcp(p, (request) => dnsHttpAnswer(request, paths, () => metrics.text()));
  }
}

async function run(config: DnsAppConfig): Promise<RunningApp> {
  const server = await startDnsServer({
    state: config.snapshot,
    listen: config.listen,
    health: config.health,
    ready: config.ready,
    metrics: config.metrics,
    resolver: config.resolver,
    allowRecursionFrom: config.allowRecursionFrom,
  });
  return { endpoints: server.endpoints, stop: () => server.stop() };
}

/** The `dns` app: CoreDNS's role, podnet's resolver. */
export const dnsApp: AppModule<DnsAppConfig> = {
  specificationVersion: SPECIFICATION_VERSION,
  id: 'dns',
  entry: '@podnet/dns',
  emulated,
  run,
};
