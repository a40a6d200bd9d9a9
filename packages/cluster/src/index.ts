export {
  addonDocuments,
  COREDNS_IMAGE,
  INGRESS_CLASS,
  INGRESS_CONTROLLER,
  INGRESS_CONTROLLER_NAME,
  INGRESS_NAMESPACE,
} from './addons.js';
export { buildClusterState, loadCluster } from './build.js';
export { resolveTargetPort, selectedPods } from './endpoint-slices.js';
export {
  type LoadOptions,
  loadManifests,
  type ManifestDocument,
  parseManifestText,
  STDIN_NAME,
} from './loader.js';
export { SAFE_ALPHABET } from './names.js';
export { CLUSTER_NETWORK_API } from './network-config.js';
export { SUPPORTED_KINDS } from './objects.js';
export { READY_ANNOTATION, UNDERLAY_SUBNET_KEY } from './object-context.js';
