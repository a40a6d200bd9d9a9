/**
 * The DNS server as an app: `run` starts the real server in the current namespace, `emulated`
 * binds the same resolver and wire layer on the emulator's sockets (port 53, UDP and TCP), so DNS
 * pods answer real DNS packets in an emulated cluster.
 */
import {
  type AppModule,
  cidrContains,
  type EmulatedHost,
  type PeerInfo,
  parseCidr,
  type RunningApp,
  SPECIFICATION_VERSION,
} from '@podnet/core';
import { createResolver } from './resolver.js';
import { type DnsSnapshot, parseHostPort, type ResolverOptions } from './resolver-options.js';
import { startDnsServer } from './server.js';
import { answerQuery, completeUpstream, type WireOptions } from './wire.js';

/** JSON-serialisable configuration of one DNS server instance. */
export interface DnsAppConfig {
  snapshot: DnsSnapshot;
  /** Real server: UDP/TCP address. @default '0.0.0.0:53' */
  listen?: string;
  /** Real server: `/health` address or false. @default port 8080 */
  health?: string | false;
  /** Real server: `/ready` address or false. @default port 8181 */
  ready?: string | false;
  /** Real server: `/metrics` address or false. @default port 9153 */
  metrics?: string | false;
  /** Emulated: the port bound on every address of the namespace. @default 53 */
  port?: number;
  resolver?: ResolverOptions;
  /** CIDRs whose out-of-zone queries may be forwarded. @default loopback, cluster, service and underlay CIDRs */
  allowRecursionFrom?: string[];
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
  const answer = (payload: Uint8Array, peer: PeerInfo, transport: 'udp' | 'tcp'): Uint8Array | undefined => {
    const opts: WireOptions = { transport, recursion: allow.some((c) => cidrContains(c, peer.address)) };
    const outcome = answerQuery(resolver, payload, opts);
    if (outcome.kind === 'drop') return undefined;
    if (outcome.kind === 'reply') return outcome.message;
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
    return completeUpstream(outcome, reply, opts).message;
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
