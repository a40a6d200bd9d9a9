/** The context a rule is evaluated in: the packet, its conntrack state and the namespace's state. */
import type { ClockView } from '../hooks.js';
import type { PacketCt } from './conntrack.js';
import type { IpsetStore } from './ipset.js';
import type { NetnsView } from './netns-view.js';
import type { AddrValue, IpFamily, NfPacket } from './packet.js';
import type { RecentStore } from './recent.js';
import type { Chooser, HookName, TraceSink } from './types.js';

/** Per-namespace state rules read and write besides the packet. */
export interface NfHost {
  netns: NetnsView;
  clock: ClockView;
  ipsets: IpsetStore;
  recent: RecentStore;
  /** nfacct objects: packets and bytes counted by `-m nfacct`. */
  nfacct: Map<string, { packets: number; bytes: number }>;
}

export interface EvalEnv {
  pkt: NfPacket;
  family: IpFamily;
  /** Numeric source/destination of `pkt` when the hook started. */
  src: AddrValue;
  dst: AddrValue;
  hook: HookName;
  /** Conntrack state; undefined before the conntrack hook ran (raw table). */
  ct: PacketCt | undefined;
  host: NfHost;
  chooser: Chooser;
  trace?: TraceSink;
  /** Set by NOTRACK / CT --notrack / nft notrack in the raw stage. */
  notrack?: boolean;
  /** Text of the rule being evaluated (labels random choices). */
  rule?: string;
  /** Registers how to undo a state change (allPaths branches are rolled back with these). */
  undo(fn: () => void): void;
}
