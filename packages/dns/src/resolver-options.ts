import { type ClusterState, InvalidArgumentError, isIp } from '@podnet/core';

/**
 * What the DNS server needs from the cluster: a JSON-serialisable subset of ClusterState (secrets,
 * which carry bytes, are left out). `namespaces` is optional; without it a namespace exists when
 * some service or pod lives in it.
 */
export type DnsSnapshot = Pick<ClusterState, 'network' | 'services' | 'endpointSlices' | 'pods'> &
  Partial<Pick<ClusterState, 'namespaces'>>;

/** The trimmed snapshot of a ClusterState an app config carries. */
export function dnsSnapshot(state: DnsSnapshot): DnsSnapshot {
  return {
    network: state.network,
    namespaces: state.namespaces ?? [],
    services: state.services,
    endpointSlices: state.endpointSlices,
    pods: state.pods,
  };
}

export type PodsMode = 'insecure' | 'verified' | 'disabled';

/** Resolver options; each defaults to the ClusterNetwork's `dns` settings or to CoreDNS's behaviour. */
export interface ResolverOptions {
  /** The cluster zone. @default network.clusterDomain */
  zone?: string;
  /** TTL of answers, seconds (CoreDNS's own default is 5; kubeadm's Corefile sets 30). @default network.dns.ttl */
  ttl?: number;
  /** Pod A/AAAA records `a-b-c-d.ns.pod.zone` (CoreDNS `pods`). @default network.dns.pods */
  pods?: PodsMode;
  /** Answer `*` and `any` labels as wildcards (removed from CoreDNS in 1.9; off there by default too). @default false */
  wildcards?: boolean;
  /** Reverse zones PTR queries are answered in. @default ['in-addr.arpa', 'ip6.arpa'] */
  reverseZones?: string[];
  /**
   * A reverse name that is not a service or endpoint address falls through to the static table and
   * the upstreams, as kubeadm's `fallthrough in-addr.arpa ip6.arpa`; off: NXDOMAIN. @default true
   */
  fallthrough?: boolean;
  /** SOA serial. @default a hash of the records (CoreDNS uses the time of the last change; the real server does too) */
  serial?: number;
  /** Names outside the cluster zone answered locally (CoreDNS `hosts`): name → addresses. @default network.dns.staticHosts */
  staticHosts?: Record<string, string[]>;
  /** Upstream resolvers for names outside the cluster zone (`forward . …`). @default network.dns.upstreams */
  upstreams?: string[];
  /** Zones that may be forwarded; other outside names are REFUSED. @default ['.'] */
  forwardZones?: string[];
}

export interface ResolvedResolverOptions {
  zone: string;
  ttl: number;
  pods: PodsMode;
  wildcards: boolean;
  reverseZones: string[];
  fallthrough: boolean;
  serial: number | undefined;
  staticHosts: Record<string, string[]>;
  upstreams: string[];
  forwardZones: string[];
}

/** A name in canonical lookup form: ASCII lowercase (RFC 4343), no trailing dot (the root is ''). */
export function canonicalName(name: string): string {
  const n = /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : name;
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

export function resolveResolverOptions(
  snapshot: DnsSnapshot,
  options: ResolverOptions = {},
): ResolvedResolverOptions {
  const dns = snapshot.network.dns;
  const zone = canonicalName(options.zone ?? snapshot.network.clusterDomain);
  const ttl = options.ttl ?? dns.ttl;
  const pods = options.pods ?? dns.pods;
  const bad = (field: string, why: string) => new InvalidArgumentError(`dns.${field}`, why);
  if (zone === '' || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(zone)) {
    throw bad('zone', `"${zone}" is not a DNS domain name`);
  }
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 3600)
    throw bad('ttl', `must be an integer 0-3600 seconds, got ${ttl}`);
  if (pods !== 'insecure' && pods !== 'verified' && pods !== 'disabled') {
    throw bad('pods', `must be insecure, verified or disabled, got "${String(pods)}"`);
  }
  const staticHosts = options.staticHosts ?? dns.staticHosts ?? {};
  for (const [name, addrs] of Object.entries(staticHosts)) {
    if (!Array.isArray(addrs) || addrs.some((a) => !isIp(a))) {
      throw bad(`staticHosts["${name}"]`, 'must be a list of IP addresses');
    }
  }
  const upstreams = options.upstreams ?? dns.upstreams ?? [];
  for (const u of upstreams) {
    if (parseHostPort(u, 53) === undefined) throw bad('upstreams', `"${u}" is not IP or IP:PORT`);
  }
  const serial = options.serial;
  if (serial !== undefined && (!Number.isInteger(serial) || serial < 0 || serial > 0xffffffff)) {
    throw bad('serial', `must be an unsigned 32-bit integer, got ${serial}`);
  }
  return {
    zone,
    ttl,
    pods,
    wildcards: options.wildcards ?? false,
    reverseZones: (options.reverseZones ?? ['in-addr.arpa', 'ip6.arpa']).map(canonicalName),
    fallthrough: options.fallthrough ?? true,
    serial,
    staticHosts,
    upstreams,
    forwardZones: (options.forwardZones ?? ['.']).map(canonicalName),
  };
}

/** `10.0.0.1`, `10.0.0.1:53`, `[fd00::1]:53`, `fd00::1` → host and port; undefined when malformed. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } | undefined {
  let host = text;
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1];
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const i = text.lastIndexOf(':');
    host = text.slice(0, i);
    port = /^\d+$/.test(text.slice(i + 1)) ? Number(text.slice(i + 1)) : -1;
  }
  if (host === '') host = '0.0.0.0';
  if (!isIp(host) || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host, port };
}
