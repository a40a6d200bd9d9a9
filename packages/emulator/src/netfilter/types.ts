/**
 * Shared vocabulary of the netfilter model: hook names, the chooser random decisions are drawn
 * through (hooks.ts; a tracer enumerates every branch with its probability) and the trace events
 * the interpreters emit.
 */
import type { HookPoint } from '../hooks.js';
import type { IpFamily } from './packet.js';

type HookName = HookPoint;

export type { Chooser, ChoiceOption, HookPoint as HookName } from '../hooks.js';

export const HOOKS: readonly HookPoint[] = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

export type NfEngine = 'iptables' | 'nft' | 'ipvs' | 'conntrack';

export type NfTraceEvent =
  | {
      kind: 'rule';
      hook: HookName;
      family: IpFamily;
      engine: 'iptables' | 'nft';
      table: string;
      chain: string;
      /** The rule as written in the input (`-A KUBE-SERVICES ...` / `add rule ...` body). */
      rule: string;
      source: string;
      line: number;
      /** What the rule did: `ACCEPT`, `jump KUBE-SVC-…`, `DNAT 10.244.1.2:80`, `MARK`, ... */
      action: string;
    }
  | {
      kind: 'policy';
      hook: HookName;
      engine: 'iptables' | 'nft';
      table: string;
      chain: string;
      policy: string;
    }
  | {
      kind: 'nat';
      hook: HookName;
      type: 'dnat' | 'snat' | 'un-dnat' | 'un-snat';
      from: string;
      to: string;
      by: string;
    }
  | {
      kind: 'conntrack';
      hook: HookName;
      action: 'new' | 'hit' | 'invalid' | 'untracked' | 'confirmed';
      state: string;
      entry: string;
    }
  | {
      kind: 'choice';
      where: string;
      choice: 'statistic' | 'numgen' | 'ipvs';
      option: string;
      probability: number;
      index: number;
      of: number;
    }
  | { kind: 'log'; hook: HookName; prefix: string; level: string; packet: string }
  | {
      kind: 'ipvs';
      hook: HookName;
      service: string;
      scheduler: string;
      realServer: string;
      persistent: boolean;
    }
  | { kind: 'verdict'; hook: HookName; verdict: string; by: string };

export type TraceSink = (event: NfTraceEvent) => void;

/** How a REJECT answers: the ICMP error (type/code) or a TCP reset. */
export interface RejectSpec {
  with: 'icmp' | 'tcp-reset';
  /** ICMP (or ICMPv6) type and code of the error sent back. */
  icmpType?: number;
  icmpCode?: number;
  /** The name as written (`icmp-port-unreachable`, `tcp-reset`, `icmpx port-unreachable`). */
  name: string;
}
