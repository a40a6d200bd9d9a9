/**
 * Resource records as the resolver produces them and as `dns-packet` encodes them (names without
 * the trailing dot), plus dig's presentation format for the CLI and for tests.
 */

export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED' | 'BADVERS';

export const RCODE_VALUES: Record<Rcode, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
};

/** The record types the CLI accepts and the metrics label by name (others count as `other`). */
export const KNOWN_TYPES = [
  'A',
  'AAAA',
  'CNAME',
  'SRV',
  'PTR',
  'TXT',
  'NS',
  'SOA',
  'MX',
  'ANY',
  'AXFR',
  'IXFR',
  'HINFO',
  'NAPTR',
  'DS',
  'DNSKEY',
  'RRSIG',
  'NSEC',
  'NSEC3',
] as const;

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface MxData {
  preference: number;
  exchange: string;
}

export type RecordData =
  | string
  | string[]
  | SrvData
  | SoaData
  | MxData
  | Uint8Array
  | Record<string, unknown>;

/** One resource record. `name` and name-valued data carry no trailing dot. */
export interface DnsRecord {
  name: string;
  type: string;
  ttl: number;
  class?: string;
  data: RecordData;
}

export interface DnsQuestion {
  name: string;
  /** `A`, `SRV`, ... or `UNKNOWN_<n>` as dns-packet names unknown types. */
  type: string;
  /** @default IN */
  class?: string;
}

/** Which part of the server produced an answer (the `plugin` label of CoreDNS's metrics). */
export type AnswerSource = 'kubernetes' | 'hosts' | 'forward' | 'refused';

export interface DnsAnswer {
  rcode: Rcode;
  authoritative: boolean;
  recursionAvailable: boolean;
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
  source: AnswerSource;
  /**
   * The name is outside the cluster zones and an upstream may answer it: a server forwards the
   * query. Whoever cannot forward returns the answer as it stands (SERVFAIL, as CoreDNS does when no
   * upstream answers).
   */
  forward?: boolean;
  /**
   * The answer ends in a CNAME whose target lies outside the cluster zone: a server that can reach
   * an upstream appends the target's records (CoreDNS looks the target up through its upstream).
   */
  chase?: { name: string; type: string };
}

function fqdn(name: string): string {
  return name === '' || name === '.' ? '.' : name.endsWith('.') ? name : `${name}.`;
}

function quoteTxt(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c < 32 || c > 126) out += `\\${String(c).padStart(3, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/** The RDATA of a record in dig's presentation format (`0 100 80 web.default.svc.cluster.local.`). */
export function presentData(r: Pick<DnsRecord, 'type' | 'data'>): string {
  const d = r.data as any;
  switch (r.type) {
    case 'A':
    case 'AAAA':
      return String(d);
    case 'CNAME':
    case 'PTR':
    case 'NS':
    case 'DNAME':
      return fqdn(String(d));
    case 'SRV':
      return `${d.priority ?? 0} ${d.weight ?? 0} ${d.port} ${fqdn(d.target)}`;
    case 'MX':
      return `${d.preference ?? 0} ${fqdn(d.exchange)}`;
    case 'SOA':
      return `${fqdn(d.mname)} ${fqdn(d.rname)} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case 'TXT': {
      const parts: unknown[] = Array.isArray(d) ? d : [d];
      return parts
        .map((p) => quoteTxt(p instanceof Uint8Array ? Buffer.from(p).toString('latin1') : String(p)))
        .join(' ');
    }
    default:
      if (d instanceof Uint8Array) return `\\# ${d.length}${d.length ? ` ${hex(d)}` : ''}`;
      return JSON.stringify(d);
  }
}

/** A whole record as one dig line: `web.default.svc.cluster.local. 30 IN A 10.96.0.100`. */
export function presentRecord(r: DnsRecord): string {
  return `${fqdn(r.name)} ${r.ttl} ${r.class ?? 'IN'} ${r.type} ${presentData(r)}`;
}

/** A negative or empty answer helper used by the resolver and the wire layer. */
export function emptyAnswer(rcode: Rcode, source: AnswerSource, authoritative = false): DnsAnswer {
  return {
    rcode,
    authoritative,
    recursionAvailable: false,
    answers: [],
    authorities: [],
    additionals: [],
    source,
  };
}
