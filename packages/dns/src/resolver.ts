/**
 * The Kubernetes DNS-Based Service Discovery resolver (kubernetes/dns docs/specification.md, schema
 * 1.1.0), pure: cluster snapshot + question → answer. Where the spec leaves room the behaviour is
 * CoreDNS's `kubernetes` plugin: the query grammar of parse.go, the per-type answers of
 * plugin/backend_lookup.go (SRV weights, additional address records, CNAME chasing), NXDOMAIN versus
 * NODATA as handler.go decides them, the SOA of the zone in every negative answer.
 */
import { canonicalIp, ipFamily, ipFromReverseName, isIp, reverseName } from '@podnet/core';
import {
  type AnswerSource,
  type DnsAnswer,
  type DnsQuestion,
  type DnsRecord,
  emptyAnswer,
  type Rcode,
} from './records.js';
import {
  canonicalName,
  type DnsSnapshot,
  type ResolvedResolverOptions,
  type ResolverOptions,
  resolveResolverOptions,
} from './resolver-options.js';

export const DNS_SCHEMA_VERSION = '1.1.0';
const DNS_VERSION_TTL = 28800;

export interface ResolveContext {
  /** The client may use the upstreams (the server's allow list decided). @default true */
  recursion?: boolean;
}

export interface Resolver {
  readonly zone: string;
  readonly serial: number;
  readonly options: Readonly<ResolvedResolverOptions>;
  resolve(question: DnsQuestion, context?: ResolveContext): DnsAnswer;
}

/** One address (or alias) a name stands for: CoreDNS's msg.Service. */
interface Entry {
  /** Owner path below the zone, lowercase: `web.default.svc`, `web-0.web.default.svc`. */
  key: string;
  host: string;
  /** 4, 6, or 0 for a name (ExternalName target). */
  family: 0 | 4 | 6;
  /** -1: no port (portless headless endpoints, pods, ExternalName). */
  port: number;
}

interface Lookup {
  entries: Entry[];
  nxdomain: boolean;
}

interface PortInfo {
  name: string;
  protocol: string;
  port: number;
}

interface EndpointAddr {
  ip: string;
  family: 4 | 6;
  hostname: string;
  ports: PortInfo[];
}

interface ServiceEntry {
  name: string;
  namespace: string;
  type: string;
  headless: boolean;
  clusterIPs: string[];
  ports: PortInfo[];
  externalName?: string;
  endpoints: EndpointAddr[];
}

interface Request {
  podOrSvc: 'svc' | 'pod';
  namespace?: string;
  service?: string;
  endpoint?: string;
  port?: string;
  protocol?: string;
}

const NX: Lookup = { entries: [], nxdomain: true };
const NODATA: Lookup = { entries: [], nxdomain: false };

/** CoreDNS's endpoint naming: the hostname, else the address with `.`/`:` replaced by `-`. */
export function endpointHostname(hostname: string | undefined, ip: string): string {
  if (hostname) return hostname.toLowerCase();
  return ip.includes('.') ? ip.replaceAll('.', '-') : ip.replaceAll(':', '-');
}

/** `10-244-1-5` → `10.244.1.5`, `fd00--5` → `fd00::5` (CoreDNS's pod-name rule); undefined if not an IP. */
export function podLabelToIp(label: string): string | undefined {
  const dashes = label.split('-').length - 1;
  const text =
    dashes === 3 && !label.includes('--') ? label.replaceAll('-', '.') : label.replaceAll('-', ':');
  return isIp(text) ? canonicalIp(text) : undefined;
}

function fnv32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function nameWithin(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}

class ClusterResolver implements Resolver {
  readonly zone: string;
  readonly serial: number;
  readonly options: ResolvedResolverOptions;
  private readonly ttl: number;
  private readonly namespaces = new Set<string>();
  private readonly services = new Map<string, ServiceEntry>();
  private readonly serviceList: ServiceEntry[] = [];
  /** Reverse index: address → PTR targets below the zone (`web.default.svc`). */
  private readonly reverse = new Map<string, string[]>();
  /** Pod IP → namespaces of pods with that IP (pods verified). */
  private readonly podIps = new Map<string, Set<string>>();
  private readonly staticHosts = new Map<string, string[]>();
  private readonly staticReverse = new Map<string, string[]>();
  private readonly dnsServiceIPs: string[];
  private readonly dnsServiceKey: string | undefined;
  private readonly zones: string[];

  constructor(snapshot: DnsSnapshot, options: ResolverOptions) {
    this.options = resolveResolverOptions(snapshot, options);
    this.zone = this.options.zone;
    this.ttl = this.options.ttl;
    this.zones = [this.zone, ...this.options.reverseZones].sort((a, b) => b.length - a.length);
    for (const ns of snapshot.namespaces ?? []) this.namespaces.add(ns.name.toLowerCase());
    for (const p of snapshot.pods) this.namespaces.add(p.namespace.toLowerCase());
    this.indexServices(snapshot);
    this.indexPods(snapshot);
    for (const [name, addrs] of Object.entries(this.options.staticHosts)) {
      const n = canonicalName(name);
      const canon = addrs.map(canonicalIp);
      this.staticHosts.set(n, [...(this.staticHosts.get(n) ?? []), ...canon]);
      for (const a of canon) this.staticReverse.set(a, [...(this.staticReverse.get(a) ?? []), n]);
    }
    const dnsIp = snapshot.network.dns.serviceIP;
    const dnsSvc = dnsIp
      ? this.serviceList.find((s) => s.clusterIPs.includes(canonicalIp(dnsIp)))
      : undefined;
    this.dnsServiceKey = dnsSvc ? `${dnsSvc.name}.${dnsSvc.namespace}.svc` : undefined;
    this.dnsServiceIPs = dnsSvc ? dnsSvc.clusterIPs : dnsIp ? [canonicalIp(dnsIp)] : [];
    this.serial = this.options.serial ?? fnv32(JSON.stringify([this.serviceList, [...this.podIps.keys()]]));
  }

  private indexServices(snapshot: DnsSnapshot): void {
    const slices = new Map<string, DnsSnapshot['endpointSlices'][number][]>();
    for (const s of snapshot.endpointSlices) {
      if (s.addressType === 'FQDN') continue;
      const k = `${s.serviceName.toLowerCase()}.${s.namespace.toLowerCase()}`;
      slices.set(k, [...(slices.get(k) ?? []), s]);
    }
    for (const svc of snapshot.services) {
      const name = svc.name.toLowerCase();
      const namespace = svc.namespace.toLowerCase();
      this.namespaces.add(namespace);
      const key = `${name}.${namespace}`;
      const endpoints: EndpointAddr[] = [];
      for (const slice of slices.get(key) ?? []) {
        const ports = slice.ports.map((p) => ({
          name: p.name.toLowerCase(),
          protocol: p.protocol,
          port: p.port,
        }));
        for (const ep of slice.endpoints) {
          if (!ep.ready && !svc.publishNotReadyAddresses) continue;
          for (const a of ep.addresses) {
            if (!isIp(a)) continue;
            const ip = canonicalIp(a);
            endpoints.push({ ip, family: ipFamily(ip), hostname: endpointHostname(ep.hostname, ip), ports });
          }
        }
      }
      const entry: ServiceEntry = {
        name,
        namespace,
        type: svc.type,
        headless: svc.type !== 'ExternalName' && (svc.headless || svc.clusterIPs.length === 0),
        clusterIPs: svc.type === 'ExternalName' ? [] : svc.clusterIPs.filter(isIp).map(canonicalIp),
        ports: svc.ports.map((p) => ({ name: p.name.toLowerCase(), protocol: p.protocol, port: p.port })),
        externalName: svc.type === 'ExternalName' ? svc.externalName : undefined,
        endpoints,
      };
      this.services.set(key, entry);
      this.serviceList.push(entry);
    }
    for (const svc of this.serviceList) {
      for (const ip of svc.clusterIPs) {
        // Like CoreDNS's SvcIndexReverse, the first service holding the address answers.
        if (!this.reverse.has(ip)) this.reverse.set(ip, [`${svc.name}.${svc.namespace}.svc`]);
      }
    }
    const clusterIPs = new Set(this.reverse.keys());
    for (const svc of this.serviceList) {
      for (const ep of svc.endpoints) {
        if (clusterIPs.has(ep.ip)) continue;
        const target = `${ep.hostname}.${svc.name}.${svc.namespace}.svc`;
        const list = this.reverse.get(ep.ip) ?? [];
        if (!list.includes(target)) list.push(target);
        this.reverse.set(ep.ip, list);
      }
    }
  }

  private indexPods(snapshot: DnsSnapshot): void {
    for (const p of snapshot.pods) {
      if (p.terminating || p.phase === 'Succeeded' || p.phase === 'Failed') continue;
      for (const a of p.ips) {
        if (!isIp(a)) continue;
        const ip = canonicalIp(a);
        const set = this.podIps.get(ip) ?? new Set<string>();
        set.add(p.namespace.toLowerCase());
        this.podIps.set(ip, set);
      }
    }
  }

  resolve(question: DnsQuestion, context: ResolveContext = {}): DnsAnswer {
    const qname = question.name.endsWith('.') ? question.name.slice(0, -1) : question.name;
    const lname = canonicalName(qname);
    const qtype = question.type.toUpperCase();
    if ((question.class ?? 'IN') !== 'IN') return emptyAnswer('REFUSED', 'refused');
    if (qtype === 'AXFR' || qtype === 'IXFR') return emptyAnswer('REFUSED', 'refused');
    const zone = this.zones.find((z) => nameWithin(lname, z));
    if (zone === undefined) return this.outside(qname, lname, qtype, context);
    // Records name the zone in the case the query used (CoreDNS keeps the query's case).
    const zoneCase = qname.slice(qname.length - zone.length);
    if (zone !== this.zone) return this.reverseZone(qname, lname, qtype, zoneCase, context);
    const base = lname === zone ? '' : lname.slice(0, lname.length - zone.length - 1);
    return this.clusterZone(qname, base, qtype, zoneCase);
  }

  // ---- the cluster zone -------------------------------------------------------------------

  private clusterZone(qname: string, base: string, qtype: string, zoneCase: string): DnsAnswer {
    const ok = (
      answers: DnsRecord[],
      additionals: DnsRecord[] = [],
      chase?: DnsAnswer['chase'],
    ): DnsAnswer =>
      answers.length === 0
        ? this.negative('NOERROR', zoneCase)
        : {
            ...emptyAnswer('NOERROR', 'kubernetes', true),
            answers,
            additionals,
            ...(chase ? { chase } : {}),
          };
    const fake = (): DnsAnswer =>
      this.negative(this.lookup(base).nxdomain ? 'NXDOMAIN' : 'NOERROR', zoneCase);
    switch (qtype) {
      case 'A':
      case 'AAAA': {
        const l = this.lookup(base);
        if (l.nxdomain) return this.negative('NXDOMAIN', zoneCase);
        const r = this.addressRecords(qtype, qname, l.entries, []);
        return ok(r.records, [], r.chase);
      }
      case 'SRV': {
        const l = this.lookup(base);
        if (l.nxdomain) return this.negative('NXDOMAIN', zoneCase);
        const r = this.srvRecords(qname, l.entries, zoneCase);
        return ok(r.answers, r.extra);
      }
      case 'CNAME': {
        const l = this.lookup(base);
        if (l.nxdomain) return this.negative('NXDOMAIN', zoneCase);
        const alias = l.entries.find((e) => e.family === 0);
        return ok(alias ? [this.rr(qname, 'CNAME', alias.host)] : []);
      }
      case 'TXT': {
        if (base === 'dns-version') {
          return ok([{ name: qname, type: 'TXT', ttl: DNS_VERSION_TTL, data: [DNS_SCHEMA_VERSION] }]);
        }
        const l = this.lookup(base);
        if (l.nxdomain) return this.negative('NXDOMAIN', zoneCase);
        const r = this.addressRecords('TXT', qname, l.entries, []);
        return ok(r.records, [], r.chase);
      }
      case 'NS':
        if (base === '') {
          const target = `${this.dnsServiceKey ?? 'ns.dns'}.${zoneCase}`;
          return ok(
            [this.rr(qname, 'NS', target)],
            this.dnsServiceIPs.map((ip) => this.rr(target, ipFamily(ip) === 4 ? 'A' : 'AAAA', ip)),
          );
        }
        return fake();
      case 'SOA':
        return base === '' ? ok([this.soa(zoneCase)]) : fake();
      case 'ANY': {
        // podnet answers ANY with every record the name owns (CoreDNS answers NODATA).
        const l = this.lookup(base);
        if (l.nxdomain) return this.negative('NXDOMAIN', zoneCase);
        const answers: DnsRecord[] = [];
        for (const t of ['A', 'AAAA', 'CNAME', 'SRV', 'TXT', 'NS', 'SOA'] as const) {
          const a = this.clusterZone(qname, base, t, zoneCase);
          for (const r of a.answers) if (!answers.some((x) => sameRecord(x, r))) answers.push(r);
        }
        return ok(answers);
      }
      default:
        // PTR in the forward zone, MX, HINFO, unknown types: CoreDNS's "fake A lookup".
        return fake();
    }
  }

  /** What the name stands for: CoreDNS's Records() with podnet's special names. */
  private lookup(base: string): Lookup {
    if (base === '' || base === 'svc' || base === 'pod' || base === 'dns' || base === 'dns-version')
      return NODATA;
    if (base === 'ns.dns') {
      return {
        entries: this.dnsServiceIPs.map((ip) => ({
          key: 'ns.dns',
          host: ip,
          family: ipFamily(ip),
          port: -1,
        })),
        nxdomain: false,
      };
    }
    const r = this.parse(base);
    if (!r) return NX;
    return r.podOrSvc === 'pod' ? this.findPods(r) : this.findServices(r);
  }

  /** parse.go: `[_port._proto.|endpoint.]service.namespace.svc|pod`; anything else is a name error. */
  private parse(base: string): Request | undefined {
    const segs = base.split('.');
    if (segs.some((s) => s === '')) return undefined;
    const last = segs.pop();
    if (last !== 'svc' && last !== 'pod') return undefined;
    const r: Request = { podOrSvc: last, namespace: segs.pop() };
    r.service = segs.pop();
    if (segs.length === 1) r.endpoint = segs[0];
    else if (segs.length === 2) {
      r.protocol = segs[1].replace(/^_/, '');
      r.port = segs[0].replace(/^_/, '');
    } else if (segs.length > 2) return undefined;
    return r;
  }

  private wild(s: string | undefined): boolean {
    return this.options.wildcards && (s === '*' || s === 'any');
  }

  private match(query: string | undefined, value: string): boolean {
    return query === undefined || this.wild(query) || query === value.toLowerCase();
  }

  private findServices(r: Request): Lookup {
    const ns = r.namespace!;
    if (!this.wild(ns) && !this.namespaces.has(ns)) return NX;
    if (r.service === undefined) return NODATA;
    let nxdomain = true;
    if (this.wild(r.service) && !this.wild(ns)) nxdomain = false;
    const candidates =
      this.wild(r.service) || this.wild(ns)
        ? this.serviceList.filter((s) => this.match(ns, s.namespace) && this.match(r.service, s.name))
        : [this.services.get(`${r.service}.${ns}`)].filter((s): s is ServiceEntry => s !== undefined);
    const entries: Entry[] = [];
    for (const svc of candidates) {
      const path = `${svc.name}.${svc.namespace}.svc`;
      if (svc.type === 'ExternalName') {
        const target = svc.externalName?.replace(/\.$/, '');
        if (target && !isIp(target)) {
          entries.push({ key: path, host: target, family: 0, port: -1 });
          nxdomain = false;
        }
        continue;
      }
      if (svc.headless || r.endpoint !== undefined) {
        for (const ep of svc.endpoints) {
          if (r.endpoint !== undefined && !this.match(r.endpoint, ep.hostname)) continue;
          // Like CoreDNS's EndpointSlice conversion, a portless endpoint carries the sentinel port -1.
          const ports = ep.ports.length > 0 ? ep.ports : [{ name: '', protocol: '', port: -1 }];
          for (const p of ports) {
            if (!this.match(r.port, p.name) || !this.match(r.protocol, p.protocol)) continue;
            entries.push({ key: `${ep.hostname}.${path}`, host: ep.ip, family: ep.family, port: p.port });
            nxdomain = false;
          }
        }
        continue;
      }
      for (const p of svc.ports) {
        if (!this.match(r.port, p.name) || !this.match(r.protocol, p.protocol)) continue;
        nxdomain = false;
        for (const ip of svc.clusterIPs)
          entries.push({ key: path, host: ip, family: ipFamily(ip), port: p.port });
      }
    }
    return { entries, nxdomain };
  }

  private findPods(r: Request): Lookup {
    const mode = this.options.pods;
    const ns = r.namespace!;
    if (mode === 'disabled') return NX;
    if (!this.wild(ns) && !this.namespaces.has(ns)) return NX;
    if (r.service === undefined) return NODATA;
    // podnet: extra labels below a pod name are a name error (CoreDNS ignores them).
    if (r.endpoint !== undefined || r.port !== undefined) return NX;
    const key = `${r.service}.${ns}.pod`;
    const ip = podLabelToIp(r.service);
    if (mode === 'insecure') {
      if (!ip) return NX;
      return { entries: [{ key, host: ip, family: ipFamily(ip), port: -1 }], nxdomain: false };
    }
    const nxdomain = !(this.wild(r.service) && !this.wild(ns));
    if (!ip) return { entries: [], nxdomain };
    const namespaces = this.podIps.get(ip);
    if (!namespaces || ![...namespaces].some((n) => this.match(ns, n))) return { entries: [], nxdomain };
    return { entries: [{ key, host: ip, family: ipFamily(ip), port: -1 }], nxdomain: false };
  }

  /** plugin.A / AAAA / TXT: address records, CNAMEs chased inside the zone (at most 8 deep). */
  private addressRecords(
    qtype: 'A' | 'AAAA' | 'TXT',
    owner: string,
    entries: Entry[],
    previous: DnsRecord[],
  ): { records: DnsRecord[]; chase?: DnsAnswer['chase'] } {
    const records: DnsRecord[] = [];
    let chase: DnsAnswer['chase'];
    const seen = new Set<string>();
    const want = qtype === 'A' ? 4 : qtype === 'AAAA' ? 6 : -1;
    for (const e of entries) {
      if (e.family === 0) {
        const target = e.host;
        const ltarget = canonicalName(target);
        if (ltarget === canonicalName(owner) || previous.length > 7) continue;
        const cname = this.rr(owner, 'CNAME', target);
        if (previous.some((p) => canonicalName(p.name) === canonicalName(owner) && p.type === 'CNAME'))
          continue;
        if (nameWithin(ltarget, this.zone)) {
          const tbase = ltarget === this.zone ? '' : ltarget.slice(0, ltarget.length - this.zone.length - 1);
          const l = this.lookup(tbase);
          if (l.nxdomain) continue;
          const next = this.addressRecords(qtype, target, l.entries, [...previous, cname]);
          if (next.records.length > 0) records.push(cname, ...next.records);
          chase ??= next.chase;
          continue;
        }
        const local = this.staticHosts.get(ltarget);
        records.push(cname);
        if (local) {
          for (const ip of local) if (ipFamily(ip) === want) records.push(this.rr(target, qtype, ip));
        } else if (this.options.upstreams.length > 0) chase ??= { name: target, type: qtype };
        continue;
      }
      if (e.family === want && !seen.has(e.host)) {
        seen.add(e.host);
        records.push(this.rr(owner, qtype, e.host));
      }
    }
    return { records, chase };
  }

  /** plugin.SRV: one record per target and port, weights split per priority, targets' addresses as extra. */
  private srvRecords(
    owner: string,
    all: Entry[],
    zoneCase: string,
  ): { answers: DnsRecord[]; extra: DnsRecord[] } {
    const entries = all.filter((e) => e.family !== 0);
    const answers: DnsRecord[] = [];
    const extra: DnsRecord[] = [];
    if (entries.length === 0) return { answers, extra };
    const weight = Math.max(1, Math.floor((100 / (100 * entries.length)) * 100));
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.port === -1) continue;
      const target = `${e.key}.${zoneCase}`;
      if (!seen.has(`${target}|${e.port}`)) {
        seen.add(`${target}|${e.port}`);
        answers.push({
          name: owner,
          type: 'SRV',
          ttl: this.ttl,
          data: { priority: 0, weight, port: e.port, target },
        });
      }
      if (!seen.has(`${target}|${e.host}`)) {
        seen.add(`${target}|${e.host}`);
        extra.push(this.rr(target, e.family === 4 ? 'A' : 'AAAA', e.host));
      }
    }
    return { answers, extra };
  }

  private rr(name: string, type: string, data: string): DnsRecord {
    return { name, type, ttl: this.ttl, data };
  }

  private soa(zoneCase: string): DnsRecord {
    return {
      name: zoneCase,
      type: 'SOA',
      ttl: Math.min(this.ttl, 300),
      data: {
        mname: `ns.dns.${zoneCase}`,
        rname: `hostmaster.${zoneCase}`,
        serial: this.serial,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: this.ttl,
      },
    };
  }

  /** NXDOMAIN, or NODATA (NOERROR, no answer): authoritative, the zone's SOA in authority. */
  private negative(rcode: Rcode, zoneCase: string): DnsAnswer {
    return { ...emptyAnswer(rcode, 'kubernetes', true), authorities: [this.soa(zoneCase)] };
  }

  // ---- reverse zones ----------------------------------------------------------------------

  private reverseZone(
    qname: string,
    lname: string,
    qtype: string,
    zoneCase: string,
    context: ResolveContext,
  ): DnsAnswer {
    if (qtype === 'PTR') {
      const ip = ipFromReverseName(lname);
      const targets = ip ? this.reverse.get(ip) : undefined;
      if (targets) {
        return {
          ...emptyAnswer('NOERROR', 'kubernetes', true),
          answers: targets.map((t) => this.rr(qname, 'PTR', `${t}.${this.zone}`)),
        };
      }
    }
    if (this.options.fallthrough) return this.outside(qname, lname, qtype, context);
    return this.negative('NXDOMAIN', zoneCase);
  }

  // ---- names outside the cluster zone -----------------------------------------------------

  private outside(qname: string, lname: string, qtype: string, context: ResolveContext): DnsAnswer {
    const hosts = (answers: DnsRecord[]): DnsAnswer => ({
      ...emptyAnswer('NOERROR', 'hosts'),
      recursionAvailable: true,
      answers,
    });
    const local = this.staticHosts.get(lname);
    if (local) {
      const out: DnsRecord[] = [];
      for (const ip of local) {
        const t = ipFamily(ip) === 4 ? 'A' : 'AAAA';
        if (qtype === t || qtype === 'ANY') out.push(this.rr(qname, t, ip));
      }
      return hosts(out);
    }
    if (qtype === 'PTR') {
      const ip = ipFromReverseName(lname);
      const names = ip ? this.staticReverse.get(ip) : undefined;
      if (names) return hosts(names.map((n) => this.rr(qname, 'PTR', n)));
    }
    const { upstreams, forwardZones } = this.options;
    if (upstreams.length > 0 && forwardZones.some((z) => nameWithin(lname, z === '.' ? '' : z))) {
      if (context.recursion === false) return emptyAnswer('REFUSED', 'refused');
      return { ...emptyAnswer('SERVFAIL', 'forward'), recursionAvailable: true, forward: true };
    }
    return emptyAnswer('REFUSED', 'refused');
  }
}

function sameRecord(a: DnsRecord, b: DnsRecord): boolean {
  return a.type === b.type && a.name === b.name && JSON.stringify(a.data) === JSON.stringify(b.data);
}

/** Build the resolver for one snapshot of the cluster (indexes are built once; resolve is cheap). */
export function createResolver(snapshot: DnsSnapshot, options: ResolverOptions = {}): Resolver {
  return new ClusterResolver(snapshot, options);
}

/** The PTR question for an address: `dig -x`. */
export function reverseQuestion(ip: string): DnsQuestion {
  return { name: reverseName(ip), type: 'PTR' };
}

export type { AnswerSource };
