export { bridge } from './bridge-plugin.js';
export { type BridgeOptions, type ResolvedBridgeOptions, resolveBridgeOptions } from './bridge-options.js';
export {
  type CniDns,
  type CniInterface,
  type CniIpConfig,
  type CniResult,
  type CniResultOptions,
  type CniRoute,
  cniResult,
} from './cni-result.js';
export {
  bridgeMac,
  containerId,
  formatChainName,
  formatComment,
  hostVethMac,
  POD_IFNAME,
  type PodRef,
  podIfMac,
  sandboxPath,
  vethName,
} from './cni-names.js';
