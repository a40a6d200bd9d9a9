/**
 * The netfilter model of @podnet/emulator: iptables-restore and nft -f text interpreted at the
 * hooks, conntrack and NAT, ipset, IPVS, and tools (a one-namespace harness, tracePacket).
 */
export {
  createNetfilter,
  netfilterFactory,
  NetfilterNamespace,
  netnsFromView,
  rejectWith,
  traceEntry,
} from './engine.js';
export { Netfilter, type NetfilterOptions, type NfResult, type NfRunOptions } from './netfilter.js';
export {
  Conntrack,
  type ConntrackListing,
  type ConntrackOptions,
  type ConntrackTimeouts,
  type CtEntry,
  type CtState,
  type CtTuple,
  DEFAULT_TIMEOUTS,
  formatEntry,
  type NatRange,
  type PacketCt,
  parseConntrackLine,
  VirtualClock,
} from './conntrack.js';
export { IptablesRuleset, type RestoreOptions } from './ipt-ruleset.js';
export { SUPPORTED_MATCHES } from './ipt-matches.js';
export { SUPPORTED_TARGETS } from './ipt-targets.js';
export { NftRuleset, type NftTable, type NftChain, type NftRule } from './nft-ruleset.js';
export { IpsetStore } from './ipset.js';
export { Ipvs, type IpvsRealServer, type IpvsScheduler, type IpvsVirtualService } from './ipvs.js';
export { type AddrType, type NetnsView, type StaticNetnsSpec, staticNetns } from './netns-view.js';
export { type EnumeratedPath, enumeratePaths, replayChooser, seededChooser } from './chooser.js';
export {
  type HarnessNamespace,
  type HarnessRoute,
  NetfilterHarness,
  type PacketOutcome,
  type PacketSpec,
} from './harness.js';
export {
  type TracePacketInput,
  type TracePacketResult,
  type TracePath,
  type TraceRules,
  tracePacket,
} from './trace-packet.js';
export type { NfPacket } from './packet.js';
export { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from './packet.js';
export type { NfTraceEvent, RejectSpec } from './types.js';
