export { ARP_REPLY, ARP_REQUEST, type ArpPacket, arp } from './arp.js';
export {
  finishChecksum,
  internetChecksum,
  onesComplementSum,
  pseudoHeader,
  segmentChecksum,
  verifySegment,
} from './checksum.js';
export type { Codec, PseudoHeader, TransportCodec } from './codec.js';
export { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, type EthernetFrame, ethernet } from './ethernet.js';
export {
  buildFrame,
  type DecodedFrame,
  type DecodeFrameOptions,
  decodeFrame,
  type FrameSpec,
} from './frame.js';
export {
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV4_FRAG_NEEDED,
  ICMPV4_TIME_EXCEEDED,
  type Icmpv4Decoded,
  type Icmpv4Message,
  icmpv4,
} from './icmpv4.js';
export {
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_TIME_EXCEEDED,
  type Icmpv6Decoded,
  type Icmpv6Message,
  icmpv6,
  type NeighborAdvertisement,
  type NeighborSolicitation,
  neighborAdvertisement,
  neighborSolicitation,
  type PacketTooBig,
  packetTooBig,
  parseNeighborAdvertisement,
  parseNeighborSolicitation,
  parsePacketTooBig,
} from './icmpv6.js';
export {
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_ICMPV6,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  type Ipv4Decoded,
  type Ipv4Flags,
  type Ipv4Packet,
  ipv4,
} from './ipv4.js';
export { type Ipv6Packet, ipv6 } from './ipv6.js';
export { mssOption, readMss, type TcpDecoded, type TcpFlags, type TcpSegment, tcp } from './tcp.js';
export { type UdpDatagram, type UdpDecoded, udp, udpChecksum } from './udp.js';
export { VXLAN_FLAG_I, VXLAN_LINUX_PORT, VXLAN_PORT, type VxlanPacket, vxlan } from './vxlan.js';
