/**
 * What a pod's stub resolver does with a name: glibc's res_nsearch over the pod's resolv.conf. With
 * `ndots:5` a name with fewer than 5 dots tries every search domain before the name as given; a
 * search query answered NXDOMAIN or NODATA (or SERVFAIL) moves on to the next domain, any other
 * failure stops the search; a trailing dot means the name alone. Each query goes to the nameservers
 * in order, the next one asked on SERVFAIL, NOTIMP or REFUSED.
 */
import { NotFoundError, objectKey, type PodInfo } from '@podnet/core';
import { type DnsAnswer, type DnsQuestion, emptyAnswer, type Rcode } from './records.js';
import { ndotsOf, type PodResolvConfOptions, podResolvConf, type ResolvConf } from './resolv-conf.js';
import { createResolver, type Resolver } from './resolver.js';
import { canonicalName, type DnsSnapshot, type ResolverOptions } from './resolver-options.js';

export interface SearchQuery {
  /** The name sent, without the trailing dot. */
  name: string;
  type: string;
  rcode: Rcode;
  /** The nameserver that gave this answer. */
  nameserver: string;
}

export interface SearchResult {
  queries: SearchQuery[];
  /** The question whose answer the resolver returned (the success, or the failure glibc reports). */
  question: DnsQuestion;
  response: DnsAnswer;
}

/** Ask one nameserver one question. */
export type NameserverQuery = (nameserver: string, question: DnsQuestion) => DnsAnswer;

const hasAnswer = (a: DnsAnswer) => a.rcode === 'NOERROR' && a.answers.length > 0;

/** glibc's res_nsearch: the queries a stub resolver makes for `name` and the answer it settles on. */
export function searchResolve(
  name: string,
  type: string,
  conf: ResolvConf,
  ask: NameserverQuery,
): SearchResult {
  const queries: SearchQuery[] = [];
  const nameservers = conf.nameservers.length > 0 ? conf.nameservers : ['127.0.0.1'];
  const query = (qname: string): SearchResult => {
    const question = { name: qname, type };
    let response: DnsAnswer = emptyAnswer('SERVFAIL', 'forward');
    let server = nameservers[0];
    for (const ns of nameservers) {
      server = ns;
      response = ask(ns, question);
      if (response.rcode !== 'SERVFAIL' && response.rcode !== 'NOTIMP' && response.rcode !== 'REFUSED') break;
    }
    queries.push({ name: qname, type, rcode: response.rcode, nameserver: server });
    return { queries, question, response };
  };
  const trailingDot = name.endsWith('.');
  const bare = trailingDot ? name.slice(0, -1) : name;
  const dots = bare.split('.').length - 1;
  let saved: SearchResult | undefined;
  let nodata: SearchResult | undefined;
  let last: SearchResult | undefined;
  let triedAsIs = false;
  let rootOnList = false;
  if (dots >= ndotsOf(conf) || trailingDot) {
    const r = query(bare);
    if (hasAnswer(r.response) || trailingDot) return r;
    saved = r;
    triedAsIs = true;
  }
  for (const domain of conf.searches) {
    const d = domain.replace(/^\./, '').replace(/\.$/, '');
    if (d === '') rootOnList = true;
    const r = query(d === '' ? bare : `${bare}.${d}`);
    last = r;
    if (hasAnswer(r.response)) return r;
    const rc = r.response.rcode;
    if (rc === 'NOERROR') nodata ??= r;
    else if (rc !== 'NXDOMAIN' && rc !== 'SERVFAIL') break;
  }
  if (!triedAsIs && !rootOnList) {
    const r = query(bare);
    if (hasAnswer(r.response)) return r;
    last = r;
  }
  return saved ?? nodata ?? last!;
}

export interface PodLookup extends SearchResult {
  pod: { namespace: string; name: string };
  resolvConf: ResolvConf;
  ndots: number;
}

export interface ResolveFromPodOptions {
  /** Options of the cluster DNS the pod's queries reach. */
  resolver?: ResolverOptions;
  resolvConf?: PodResolvConfOptions;
}

/**
 * Resolve `name` the way `pod` would: its resolv.conf, the search-path expansion, each query
 * answered by the cluster DNS when sent to the DNS Service IP. A nameserver outside the cluster can
 * only answer from the static table here (names it would have to look up come back SERVFAIL).
 */
export function resolveFromPod(
  state: DnsSnapshot,
  pod: PodInfo | string,
  name: string,
  type = 'A',
  options: ResolveFromPodOptions = {},
): PodLookup {
  const found = typeof pod === 'string' ? state.pods.find((p) => objectKey(p) === pod) : pod;
  if (!found) throw new NotFoundError(`pod ${String(pod)} not found (use NAMESPACE/NAME)`);
  const resolver: Resolver = createResolver(state, options.resolver);
  const resolvConf = podResolvConf(state.network, found, options.resolvConf);
  const clusterDns = new Set(
    [
      state.network.dns.serviceIP,
      ...state.services
        .filter((s) => s.namespace === 'kube-system' && s.name === 'kube-dns')
        .flatMap((s) => s.clusterIPs),
    ].filter(Boolean),
  );
  const statics = new Set(Object.keys(resolver.options.staticHosts).map(canonicalName));
  const ask: NameserverQuery = (ns, q) => {
    if (clusterDns.has(ns)) return resolver.resolve(q, { recursion: true });
    // An upstream resolver: only the static table is known here.
    if (statics.has(canonicalName(q.name))) return resolver.resolve(q, { recursion: false });
    return emptyAnswer('SERVFAIL', 'forward');
  };
  const result = searchResolve(name, type.toUpperCase(), resolvConf, ask);
  return {
    pod: { namespace: found.namespace, name: found.name },
    resolvConf,
    ndots: ndotsOf(resolvConf),
    ...result,
  };
}
