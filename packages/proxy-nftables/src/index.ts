export {
  type NftablesProxyOptions,
  nftablesProxy,
  renderNftables,
  renderNftablesCleanup,
  renderNftablesUpdate,
} from './nftables-proxy.js';
export type { DetectLocalMode } from './nftables-options.js';
export {
  endpointChainNameBase,
  hashAndTruncate,
  servicePortChainNameBase,
  serviceChainNames,
} from './nftables-names.js';
