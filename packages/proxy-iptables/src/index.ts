export {
  type IptablesProxyOptions,
  iptablesProxy,
  renderIptables,
  renderIptablesUpdate,
} from './iptables-proxy.js';
export type { DetectLocalMode } from './iptables-options.js';
export { ENSURE_MARKER, LARGE_CLUSTER_ENDPOINTS_THRESHOLD } from './iptables-rules.js';
export { endpointChainName, portProtoHash, probability, serviceChainNames } from './iptables-names.js';
