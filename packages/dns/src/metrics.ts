/**
 * The server's counters in Prometheus text format, under CoreDNS's metric names
 * (`coredns_dns_requests_total`, `coredns_dns_responses_total`, `coredns_dns_request_duration_seconds`)
 * so dashboards written for CoreDNS read them. Counting is array increments: it sits on the hot path.
 */
import { KNOWN_TYPES, RCODE_VALUES, type Rcode } from './records.js';

/** CoreDNS's buckets: prometheus.ExponentialBuckets(0.00025, 2, 16), seconds. */
const BUCKETS = Array.from({ length: 16 }, (_, i) => 0.00025 * 2 ** i);
const TYPES = [...KNOWN_TYPES.filter((t) => t !== 'AXFR' && t !== 'IXFR'), 'AXFR', 'IXFR', 'other'];
const TYPE_INDEX = new Map<string, number>(TYPES.map((t, i) => [t, i]));
const PROTOS = ['udp', 'tcp'] as const;
const PLUGINS = ['kubernetes', 'hosts', 'forward', 'refused', 'server'] as const;
const RCODES = Object.keys(RCODE_VALUES) as Rcode[];
const RCODE_INDEX = new Map<string, number>(RCODES.map((r, i) => [r, i]));
const PLUGIN_INDEX = new Map<string, number>(PLUGINS.map((p, i) => [p, i]));

export type Proto = (typeof PROTOS)[number];

export function typeIndex(qtype: string): number {
  return TYPE_INDEX.get(qtype) ?? TYPES.length - 1;
}
export function rcodeIndex(rcode: Rcode): number {
  return RCODE_INDEX.get(rcode) ?? RCODE_INDEX.get('SERVFAIL')!;
}
export function pluginIndex(plugin: string): number {
  return PLUGIN_INDEX.get(plugin) ?? PLUGIN_INDEX.get('server')!;
}

export class DnsMetrics {
  /** [proto][family 0=v4,1=v6][type] */
  private readonly requests = new Float64Array(PROTOS.length * 2 * TYPES.length);
  /** [rcode][plugin] */
  private readonly responses = new Float64Array(RCODES.length * PLUGINS.length);
  /** [type][bucket (+Inf last)] */
  private readonly buckets = new Float64Array(TYPES.length * (BUCKETS.length + 1));
  private readonly sums = new Float64Array(TYPES.length);
  private readonly dropped = new Map<string, number>();

  constructor(private readonly server: string) {}

  /** One answered query: type index, rcode index, plugin index, seconds from receipt to send. */
  observe(proto: number, v6: boolean, type: number, rcode: number, plugin: number, seconds: number): void {
    this.requests[(proto * 2 + (v6 ? 1 : 0)) * TYPES.length + type]++;
    this.responses[rcode * PLUGINS.length + plugin]++;
    let b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]) b++;
    this.buckets[type * (BUCKETS.length + 1) + b]++;
    this.sums[type] += seconds;
  }

  /** A packet answered by nothing (too short, a response, a handler failure). */
  drop(reason: string, proto: number, v6: boolean): void {
    this.requests[(proto * 2 + (v6 ? 1 : 0)) * TYPES.length + TYPES.length - 1]++;
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }

  total(name: 'requests' | 'responses'): number {
    const a = name === 'requests' ? this.requests : this.responses;
    return a.reduce((x, y) => x + y, 0);
  }

  /** The Prometheus text exposition (version 0.0.4). */
  text(): string {
    const s = `server="${this.server}",zone="."`;
    const out: string[] = [];
    out.push('# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.');
    out.push('# TYPE coredns_dns_requests_total counter');
    for (let p = 0; p < PROTOS.length; p++) {
      for (let f = 0; f < 2; f++) {
        for (let t = 0; t < TYPES.length; t++) {
          const v = this.requests[(p * 2 + f) * TYPES.length + t];
          if (v > 0)
            out.push(
              `coredns_dns_requests_total{${s},proto="${PROTOS[p]}",family="${f + 1}",type="${TYPES[t]}"} ${v}`,
            );
        }
      }
    }
    out.push('# HELP coredns_dns_responses_total Counter of response status codes.');
    out.push('# TYPE coredns_dns_responses_total counter');
    for (let r = 0; r < RCODES.length; r++) {
      for (let p = 0; p < PLUGINS.length; p++) {
        const v = this.responses[r * PLUGINS.length + p];
        const plugin = PLUGINS[p] === 'server' || PLUGINS[p] === 'refused' ? '' : PLUGINS[p];
        if (v > 0) out.push(`coredns_dns_responses_total{${s},rcode="${RCODES[r]}",plugin="${plugin}"} ${v}`);
      }
    }
    out.push(
      '# HELP coredns_dns_request_duration_seconds Histogram of the time (in seconds) each request took per zone.',
    );
    out.push('# TYPE coredns_dns_request_duration_seconds histogram');
    for (let t = 0; t < TYPES.length; t++) {
      const base = t * (BUCKETS.length + 1);
      let count = 0;
      for (let b = 0; b <= BUCKETS.length; b++) count += this.buckets[base + b];
      if (count === 0) continue;
      let cum = 0;
      for (let b = 0; b < BUCKETS.length; b++) {
        cum += this.buckets[base + b];
        out.push(
          `coredns_dns_request_duration_seconds_bucket{${s},type="${TYPES[t]}",le="${BUCKETS[b]}"} ${cum}`,
        );
      }
      out.push(`coredns_dns_request_duration_seconds_bucket{${s},type="${TYPES[t]}",le="+Inf"} ${count}`);
      out.push(`coredns_dns_request_duration_seconds_sum{${s},type="${TYPES[t]}"} ${this.sums[t]}`);
      out.push(`coredns_dns_request_duration_seconds_count{${s},type="${TYPES[t]}"} ${count}`);
    }
    out.push('# HELP podnet_dns_dropped_total Packets the server did not answer, by reason.');
    out.push('# TYPE podnet_dns_dropped_total counter');
    for (const [reason, v] of [...this.dropped].sort())
      out.push(`podnet_dns_dropped_total{${s},reason="${reason}"} ${v}`);
    return `${out.join('\n')}\n`;
  }
}
