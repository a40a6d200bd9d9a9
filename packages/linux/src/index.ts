export {
  type AppStatus,
  type ClusterLocation,
  type ClusterStatus,
  DEFAULT_STATE_DIR,
  type DownReport,
  down,
  type ExecOptions,
  exec,
  type LinuxBackendOptions,
  type LinuxNetwork,
  linux,
  listClusters,
  resolveTarget,
  status,
  type UpOptions,
  up,
} from './linux-backend.js';
export { type AppSpec, defaultResolveEntry, type SupervisedApp } from './apps.js';
export { type FlatPlan, flattenPlan, type NetnsEntry, type NetnsRole } from './flatten.js';
export {
  checkClusterName,
  clusterMarker,
  clusterPrefix,
  fabricNetns,
  hostNetns,
  nodeNetns,
  podNetnsKernel,
  routerNetns,
  segmentBridge,
  uplinkPort,
} from './names.js';
export { analyzeIptables, iptablesApplyText, nftApplyText, nftTables } from './netfilter.js';
export { assertFeatures, preflight } from './preflight.js';
export { type ProbeOutcome, type ProbeRequest, probe, probeNetns } from './probe.js';
export { ensureTunAddon, findTunAddon } from './tun-addon.js';
export { parseWhoami, type WhoamiConfig, type WhoamiReply, whoamiApp } from './whoami-app.js';
