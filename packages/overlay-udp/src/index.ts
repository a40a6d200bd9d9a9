export {
  FLANNEL_UDP_APP,
  flannelUdpApp,
  type PacketDevice,
  type RunFlannelUdpOptions,
  runFlannelUdp,
  tunFdDevice,
} from './flannel-udp-app.js';
export { TUN_NAME, UDP_ENCAP_OVERHEAD, udp } from './udp-backend.js';
export { type ResolvedUdpOptions, resolveUdpOptions, type UdpOptions } from './udp-options.js';
export { type FlannelUdpConfig, type TunVerdict, UdpProxy } from './udp-proxy.js';
export { decrementTtl, ipv4Destination, netUnreachable } from './ipv4-packet.js';
