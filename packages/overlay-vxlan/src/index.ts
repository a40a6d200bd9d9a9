export { VXLAN_ENCAP_OVERHEAD, vtepMac, vxlan } from './vxlan-backend.js';
export { type ResolvedVxlanOptions, resolveVxlanOptions, type VxlanOptions } from './vxlan-options.js';
