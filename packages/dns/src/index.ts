export { type DnsAppConfig, dnsApp, dnsApp as default } from './dns-app.js';
export { type ClusterDnsOptions, clusterDns, dnsServerPods } from './dns-plugin.js';
export { DnsMetrics } from './metrics.js';
export {
  type NameserverQuery,
  type PodLookup,
  type ResolveFromPodOptions,
  resolveFromPod,
  type SearchQuery,
  type SearchResult,
  searchResolve,
} from './pod-resolver.js';
export {
  type AnswerSource,
  type DnsAnswer,
  type DnsQuestion,
  type DnsRecord,
  KNOWN_TYPES,
  type MxData,
  presentData,
  presentRecord,
  type Rcode,
  type RecordData,
  type SoaData,
  type SrvData,
} from './records.js';
export {
  MAX_NAMESERVERS,
  ndotsOf,
  type PodResolvConfOptions,
  parseResolvConf,
  podDnsType,
  podResolvConf,
  type ResolvConf,
  type ResolvConfOption,
  renderResolvConf,
} from './resolv-conf.js';
export {
  createResolver,
  DNS_SCHEMA_VERSION,
  endpointHostname,
  podLabelToIp,
  type ResolveContext,
  type Resolver,
  reverseQuestion,
} from './resolver.js';
export {
  canonicalName,
  type DnsSnapshot,
  dnsSnapshot,
  type PodsMode,
  parseHostPort,
  type ResolverOptions,
} from './resolver-options.js';
export { type DnsServer, type DnsServerOptions, startDnsServer } from './server.js';
export { forwardQuery } from './upstream.js';
export {
  answerQuery,
  completeUpstream,
  decodeAnswer,
  encodeQuestion,
  encodeResponse,
  parseQuery,
  responseLimit,
  type WireOptions,
  type WireOutcome,
  type WireRequest,
} from './wire.js';
