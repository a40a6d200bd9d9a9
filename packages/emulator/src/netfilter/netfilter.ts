/**
 * The netfilter of one network namespace: iptables (both families), nftables, ipset, IPVS and
 * conntrack, run at each hook in the kernel's priority order. iptables-nft's tables are nft base
 * chains at the classic priorities (raw −300, mangle −150, nat −100/100, filter 0, security 50)
 * and interleave with nft base chains by priority. Every NAT chain (iptables `nat` and nft
 * `type nat`) runs inside the one NAT hook (−100 dstnat, 100 srcnat), ordered by its own
 * priority; the first chain that sets up a mapping wins and later NAT chains are skipped, as in
 * nf_nat_core. NAT is decided on a connection's first packet and replayed from the conntrack
 * entry for every later packet, replies included.
 */
import { type NodeDataplane, ROOT_NETNS } from '@podnet/core';
import type { ClockView } from '../hooks.js';
import {
  Conntrack,
  type ConntrackOptions,
  type CtEntry,
  formatEntry,
  invertTuple,
  type NatRange,
  type PacketCt,
  VirtualClock,
} from './conntrack.js';
import type { EvalEnv, NfHost } from './eval-env.js';
import { runIptablesTable } from './ipt-eval.js';
import { IPT_PRIORITY, IPT_TABLES, IptablesRuleset } from './ipt-ruleset.js';
import { IpsetStore } from './ipset.js';
import { Ipvs } from './ipvs.js';
import type { NetnsView } from './netns-view.js';
import { runNftChain } from './nft-eval.js';
import type { NatStmt } from './nft-expr.js';
import { NFT_HOOK, NftRuleset } from './nft-ruleset.js';
import {
  addrValue,
  hostPort,
  type IpFamily,
  type NfPacket,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  TCP_ACK,
  TCP_SYN,
} from './packet.js';
import { RecentStore } from './recent.js';
import type { Chooser, HookName, NfTraceEvent, RejectSpec, TraceSink } from './types.js';

export interface NetfilterOptions {
  /** Virtual clock (conntrack and set timeouts, `-m recent`). @default a new VirtualClock */
  clock?: ClockView;
  /** Conntrack timeouts, NAT port seed, tcp_loose. */
  conntrack?: Omit<ConntrackOptions, 'clock'>;
}

export interface NfRunOptions {
  chooser: Chooser;
  netns: NetnsView;
  /** Registers how to undo a state change (allPaths branches). */
  undo?: (fn: () => void) => void;
  trace?: TraceSink;
}

export interface NfResult {
  verdict: 'accept' | 'drop' | 'reject';
  reject?: RejectSpec;
  /** What dropped or rejected the packet. */
  reason?: string;
  /** INPUT: IPVS rewrote the destination; route the packet out again (OUTPUT → POSTROUTING). */
  reroute?: boolean;
}

type NatChainRef =
  | { prio: number; kind: 'ipt' }
  | { prio: number; kind: 'nft'; table: string; chain: string };

type Stage =
  | { prio: number; kind: 'ct-in' }
  | { prio: number; kind: 'confirm' }
  | { prio: number; kind: 'ipt'; table: string }
  | { prio: number; kind: 'nft'; table: string; chain: string }
  | { prio: number; kind: 'nat'; manip: 'src' | 'dst'; chains: NatChainRef[] }
  | { prio: number; kind: 'ipvs-request' }
  | { prio: number; kind: 'ipvs-reply' };

const CONFIRM_PRIO = 2 ** 31 - 1;
const noUndo = () => undefined;

export class Netfilter {
  readonly clock: ClockView;
  readonly conntrack: Conntrack;
  readonly ipsets: IpsetStore;
  readonly recent = new RecentStore();
  readonly nfacct = new Map<string, { packets: number; bytes: number }>();
  iptables4 = new IptablesRuleset(4);
  iptables6 = new IptablesRuleset(6);
  nft = new NftRuleset();
  readonly ipvs: Ipvs;
  private plans = new Map<string, { key: string; stages: Stage[] }>();

  constructor(options: NetfilterOptions = {}) {
    this.clock = options.clock ?? new VirtualClock();
    this.conntrack = new Conntrack({ ...options.conntrack, clock: this.clock });
    this.ipsets = new IpsetStore(this.clock);
    this.ipvs = new Ipvs(this.clock);
  }

  /** `iptables-restore` / `ip6tables-restore` input. @default noflush false, as the command */
  applyIptables(text: string, family: IpFamily, options: { noflush?: boolean; source?: string } = {}): void {
    const rs = family === 4 ? this.iptables4 : this.iptables6;
    rs.restore(text, options, { ipsetFamily: (n) => this.ipsets.get(n)?.def.family });
    this.retainRecent();
  }

  /** `nft -f` input (one transaction). */
  applyNft(text: string, options: { source?: string } = {}): void {
    this.nft.apply(text, { source: options.source, now: this.clock.now() });
  }

  /** `ipset restore` input. */
  applyIpset(text: string, options: { exist?: boolean; source?: string } = {}): void {
    this.ipsets.restore(text, options);
  }

  /** `ipvsadm -R` input. */
  applyIpvs(text: string, options: { source?: string; replace?: boolean } = {}): void {
    this.ipvs.restore(text, options.source ?? 'ipvsadm', options.replace);
  }

  /**
   * A node's netfilter text, in the order the linux backend applies it: ipset, iptables
   * (`--noflush`), ip6tables, nft, ipvsadm.
   */
  applyPlan(plan: Pick<NodeDataplane, 'node' | 'iptables' | 'nftables' | 'ipvs' | 'ipset'>): void {
    const at = (what: string) => `node ${plan.node} ${what}`;
    if (plan.ipset) this.applyIpset(plan.ipset, { exist: true, source: at('ipset') });
    if (plan.iptables.ipv4)
      this.applyIptables(plan.iptables.ipv4, 4, { noflush: true, source: at('iptables') });
    if (plan.iptables.ipv6)
      this.applyIptables(plan.iptables.ipv6, 6, { noflush: true, source: at('ip6tables') });
    if (plan.nftables) this.applyNft(plan.nftables, { source: at('nftables') });
    if (plan.ipvs) this.applyIpvs(plan.ipvs, { source: at('ipvs') });
  }

  /**
   * The node's plan changed: its rules become exactly the new plan's (as the linux backend makes
   * them: built-in chains flushed and nft tables deleted and re-added in the same transaction),
   * while conntrack entries, `-m recent` lists and IPVS connections carry over, as they do in the
   * kernel across rule changes.
   */
  replacePlan(plan: Pick<NodeDataplane, 'node' | 'iptables' | 'nftables' | 'ipvs' | 'ipset'>): void {
    const old = { ipt4: this.iptables4, ipt6: this.iptables6, nft: this.nft, ipsets: this.ipsets };
    this.iptables4 = new IptablesRuleset(4);
    this.iptables6 = new IptablesRuleset(6);
    this.nft = new NftRuleset();
    (this as { ipsets: IpsetStore }).ipsets = new IpsetStore(this.clock);
    try {
      this.applyPlan({ ...plan, ipvs: '' });
      this.applyIpvs(plan.ipvs, { source: `node ${plan.node} ipvs`, replace: true });
    } catch (e) {
      this.iptables4 = old.ipt4;
      this.iptables6 = old.ipt6;
      this.nft = old.nft;
      (this as { ipsets: IpsetStore }).ipsets = old.ipsets;
      throw e;
    }
    this.plans.clear();
    this.retainRecent();
  }

  private retainRecent(): void {
    const names = new Set<string>();
    for (const rs of [this.iptables4, this.iptables6])
      for (const r of rs.rules()) for (const n of r.recentNames) names.add(n);
    this.recent.retain(names);
  }

  /** True when nothing is loaded (every hook would only track connections). */
  get empty(): boolean {
    return (
      this.iptables4.tables.size === 0 &&
      this.iptables6.tables.size === 0 &&
      this.nft.tables.size === 0 &&
      this.ipvs.empty
    );
  }

  private plan(hook: HookName, family: IpFamily): Stage[] {
    const ipt = family === 4 ? this.iptables4 : this.iptables6;
    const key = `${ipt.generation}|${this.nft.generation}|${this.ipvs.services.size}`;
    const cacheKey = `${hook}|${family}`;
    const cached = this.plans.get(cacheKey);
    if (cached && cached.key === key) return cached.stages;
    const stages: Stage[] = [];
    const ct = this.conntrackActive(family);
    if (ct && (hook === 'PREROUTING' || hook === 'OUTPUT')) stages.push({ prio: -200, kind: 'ct-in' });
    const natChains: NatChainRef[] = [];
    for (const [name, hooks] of Object.entries(IPT_TABLES)) {
      if (!hooks.includes(hook)) continue;
      const t = ipt.table(name);
      const base = t?.chains.get(hook);
      if (!base || (base.rules.length === 0 && base.policy === 'ACCEPT')) continue;
      if (name === 'nat')
        natChains.push({ prio: hook === 'PREROUTING' || hook === 'OUTPUT' ? -100 : 100, kind: 'ipt' });
      else stages.push({ prio: IPT_PRIORITY[name], kind: 'ipt', table: name });
    }
    for (const [k, t] of this.nft.tables) {
      if (t.family === 'ip' && family !== 4) continue;
      if (t.family === 'ip6' && family !== 6) continue;
      for (const c of t.chains.values()) {
        if (!c.base || NFT_HOOK[c.base.hook] !== hook) continue;
        if (c.base.type === 'nat')
          natChains.push({ prio: c.base.priority, kind: 'nft', table: k, chain: c.name });
        else stages.push({ prio: c.base.priority, kind: 'nft', table: k, chain: c.name });
      }
    }
    natChains.sort((a, b) => a.prio - b.prio);
    if (ct && hook !== 'FORWARD') {
      const dst = hook === 'PREROUTING' || hook === 'OUTPUT';
      stages.push({ prio: dst ? -100 : 100, kind: 'nat', manip: dst ? 'dst' : 'src', chains: natChains });
    }
    if (!this.ipvs.empty) {
      if (hook === 'INPUT') stages.push({ prio: 98, kind: 'ipvs-reply' }, { prio: 99, kind: 'ipvs-request' });
      if (hook === 'OUTPUT')
        stages.push({ prio: -99, kind: 'ipvs-reply' }, { prio: -98, kind: 'ipvs-request' });
      if (hook === 'FORWARD') stages.push({ prio: 100, kind: 'ipvs-reply' });
    }
    if (ct && (hook === 'POSTROUTING' || hook === 'INPUT'))
      stages.push({ prio: CONFIRM_PRIO, kind: 'confirm' });
    stages.sort((a, b) => a.prio - b.prio);
    this.plans.set(cacheKey, { key, stages });
    return stages;
  }

  /**
   * Whether conntrack runs for a family: only while some rule needs it (a ct match or expression,
   * a NAT or CT target) or IPVS has services, as the kernel registers its hooks on demand.
   */
  conntrackActive(family: IpFamily): boolean {
    if (!this.ipvs.empty) return true;
    for (const r of (family === 4 ? this.iptables4 : this.iptables6).rules()) if (r.usesCt) return true;
    for (const t of this.nft.tables.values()) {
      if ((t.family === 'ip' && family !== 4) || (t.family === 'ip6' && family !== 6)) continue;
      for (const c of t.chains.values()) for (const r of c.rules) if (r.compiled.ct) return true;
    }
    return false;
  }

  private host(netns: NetnsView): NfHost {
    return { netns, clock: this.clock, ipsets: this.ipsets, recent: this.recent, nfacct: this.nfacct };
  }

  /** Runs every table registered at `hook` for `pkt` (mutated in place: NAT, mark, conntrack). */
  run(hook: HookName, pkt: NfPacket, options: NfRunOptions): NfResult {
    const attached = pkt.nf && pkt.nf.owner === this ? pkt.nf : undefined;
    if (!attached) pkt.nf = undefined;
    const env: EvalEnv = {
      pkt,
      family: pkt.family,
      src: addrValue(pkt.src, pkt.family),
      dst: addrValue(pkt.dst, pkt.family),
      hook,
      ct: attached?.ct,
      host: this.host(options.netns),
      chooser: options.chooser,
      trace: options.trace,
      undo: options.undo ?? noUndo,
    };
    for (const st of this.plan(hook, pkt.family)) {
      const r = this.stage(st, env);
      if (r) return r;
    }
    return { verdict: 'accept' };
  }

  private refresh(env: EvalEnv): void {
    env.src = addrValue(env.pkt.src, env.family);
    env.dst = addrValue(env.pkt.dst, env.family);
  }

  /** Runs one stage; returns a final result or undefined to go on. */
  private stage(st: Stage, env: EvalEnv): NfResult | undefined {
    const pkt = env.pkt;
    switch (st.kind) {
      case 'ct-in': {
        if (env.ct) return undefined;
        const pct: PacketCt = env.notrack
          ? { state: 'UNTRACKED', dir: 'orig' }
          : this.conntrack.track(pkt, env.undo);
        env.ct = pct;
        pkt.nf = { owner: this, ct: pct };
        env.trace?.({
          kind: 'conntrack',
          hook: env.hook,
          action:
            pct.state === 'NEW' && !pct.entry?.confirmed
              ? 'new'
              : pct.state === 'INVALID'
                ? 'invalid'
                : pct.state === 'UNTRACKED'
                  ? 'untracked'
                  : 'hit',
          state: pct.state,
          entry: pct.entry ? formatEntry(pct.entry, this.clock.now()) : describeState(pct),
        });
        return undefined;
      }
      case 'ipt': {
        const rs = env.family === 4 ? this.iptables4 : this.iptables6;
        const t = rs.table(st.table);
        if (!t) return undefined;
        const out = runIptablesTable(t, env.hook, env);
        if (out.kind === 'drop') return { verdict: 'drop', reason: out.by };
        if (out.kind === 'reject') return { verdict: 'reject', reject: out.reject, reason: out.by };
        return undefined;
      }
      case 'nft': {
        const t = this.nft.tables.get(st.table);
        const c = t?.chains.get(st.chain);
        if (!t || !c) return undefined;
        const out = runNftChain(t, c, env);
        if (out.kind === 'drop') return { verdict: 'drop', reason: out.by };
        if (out.kind === 'reject') return { verdict: 'reject', reject: out.reject, reason: out.by };
        return undefined;
      }
      case 'nat':
        return this.natStage(st, env);
      case 'ipvs-request':
        return this.ipvsRequest(env);
      case 'ipvs-reply':
        return this.ipvsReply(env);
      case 'confirm': {
        const pct = env.ct;
        if (!pct?.entry || pct.entry.confirmed || pct.state === 'RELATED') return undefined;
        if (!this.conntrack.confirm(pct, env.undo)) {
          return {
            verdict: 'drop',
            reason: `conntrack: insert clash for ${formatEntry(pct.entry, this.clock.now())}`,
          };
        }
        if (pkt.nf) pkt.nf.ct = pct;
        env.trace?.({
          kind: 'conntrack',
          hook: env.hook,
          action: 'confirmed',
          state: pct.state,
          entry: formatEntry(pct.entry, this.clock.now()),
        });
        return undefined;
      }
    }
  }

  private natStage(st: Extract<Stage, { kind: 'nat' }>, env: EvalEnv): NfResult | undefined {
    const pct = env.ct;
    const e = pct?.entry;
    if (!pct || !e || pct.state === 'INVALID' || pct.state === 'UNTRACKED' || env.notrack) return undefined;
    const manip = st.manip;
    if (pct.state === 'RELATED') {
      this.translateRelated(env, e, pct.dir, manip);
      return undefined;
    }
    if (pct.dir === 'orig' && !e.natDone[manip]) {
      for (const ref of st.chains) {
        const r = this.runNatChain(ref, env, manip);
        if (r === 'continue') continue;
        if ('verdict' in r) return r;
        if (e.natDone[manip]) break;
      }
      if (!e.natDone[manip]) {
        const before = { ...e.reply };
        this.conntrack.setupNat(e, manip, undefined);
        if (manip === 'src' && (before.dst !== e.reply.dst || before.dport !== e.reply.dport)) {
          env.trace?.({
            kind: 'nat',
            hook: env.hook,
            type: 'snat',
            from: hostPort(e.orig.src, e.orig.sport),
            to: hostPort(e.reply.dst, e.reply.dport),
            by: 'conntrack: source port remapped (the tuple was in use)',
          });
        }
      }
    }
    this.applyManip(env, e, pct.dir, manip);
    return undefined;
  }

  /** Runs one NAT chain; 'continue' when it set up nothing. */
  private runNatChain(
    ref: NatChainRef,
    env: EvalEnv,
    manip: 'src' | 'dst',
  ): 'continue' | NfResult | { nat: true } {
    const e = env.ct!.entry!;
    let stmt: { kind: NatStmt['nat']; range: NatRange; by: string } | undefined;
    if (ref.kind === 'ipt') {
      const t = (env.family === 4 ? this.iptables4 : this.iptables6).table('nat');
      if (!t) return 'continue';
      const out = runIptablesTable(t, env.hook, env);
      if (out.kind === 'drop') return { verdict: 'drop', reason: out.by };
      if (out.kind === 'reject') return { verdict: 'reject', reject: out.reject, reason: out.by };
      if (out.kind === 'nat')
        stmt = {
          kind: out.target.nat,
          range: out.target.range,
          by: `nat ${out.rule.chain}: ${out.rule.text}`,
        };
    } else {
      const t = this.nft.tables.get(ref.table);
      const c = t?.chains.get(ref.chain);
      if (!t || !c) return 'continue';
      const out = runNftChain(t, c, env);
      if (out.kind === 'drop') return { verdict: 'drop', reason: out.by };
      if (out.kind === 'reject') return { verdict: 'reject', reject: out.reject, reason: out.by };
      if (out.kind === 'nat')
        stmt = {
          kind: out.stmt.nat,
          range: out.stmt.range,
          by: `${t.family} ${t.name} ${out.chain}: ${out.rule.text}`,
        };
    }
    if (!stmt) return 'continue';
    const range = this.resolveRange(stmt.kind, stmt.range, env);
    if (!range)
      return {
        verdict: 'drop',
        reason: `${stmt.by}: no address to ${stmt.kind === 'redirect' ? 'redirect' : 'masquerade'} to`,
      };
    const before = manip === 'dst' ? hostPort(e.orig.dst, e.orig.dport) : hostPort(e.orig.src, e.orig.sport);
    this.conntrack.setupNat(e, manip, range);
    const after =
      manip === 'dst' ? hostPort(e.reply.src, e.reply.sport) : hostPort(e.reply.dst, e.reply.dport);
    env.trace?.({
      kind: 'nat',
      hook: env.hook,
      type: manip === 'dst' ? 'dnat' : 'snat',
      from: before,
      to: after,
      by: stmt.by,
    });
    return { nat: true };
  }

  /** The address MASQUERADE / REDIRECT maps to. */
  private resolveRange(kind: NatStmt['nat'], range: NatRange, env: EvalEnv): NatRange | undefined {
    const pkt = env.pkt;
    if (kind === 'masquerade') {
      const a = env.host.netns.sourceAddress(pkt.oif, pkt.dst, env.family);
      if (!a) return undefined;
      return { ...range, minAddr: a, maxAddr: a };
    }
    if (kind === 'redirect') {
      let a: string | undefined;
      if (env.hook === 'OUTPUT') a = env.family === 4 ? '127.0.0.1' : '::1';
      else a = pkt.iif === undefined ? undefined : env.host.netns.deviceAddress(pkt.iif, env.family);
      if (!a) return undefined;
      return { ...range, minAddr: a, maxAddr: a };
    }
    return range;
  }

  /** nf_nat_packet: rewrite the packet from the entry's tuples. */
  private applyManip(env: EvalEnv, e: CtEntry, dir: 'orig' | 'reply', manip: 'src' | 'dst'): void {
    const pkt = env.pkt;
    const applies =
      manip === 'dst' ? (dir === 'orig' ? e.dstNat : e.srcNat) : dir === 'orig' ? e.srcNat : e.dstNat;
    if (!applies) return;
    const target = invertTuple(e.proto, dir === 'orig' ? e.reply : e.orig);
    const icmp = pkt.proto === PROTO_ICMP || pkt.proto === PROTO_ICMPV6;
    const from =
      manip === 'dst' ? hostPort(pkt.dst, icmp ? 0 : pkt.dport) : hostPort(pkt.src, icmp ? 0 : pkt.sport);
    if (manip === 'dst') {
      pkt.dst = target.dst;
      if (icmp) pkt.icmpId = target.sport;
      else if (pkt.dport) pkt.dport = target.dport;
    } else {
      pkt.src = target.src;
      if (icmp) pkt.icmpId = target.sport;
      else if (pkt.sport) pkt.sport = target.sport;
    }
    this.refresh(env);
    if (dir === 'reply' || env.trace) {
      const to =
        manip === 'dst' ? hostPort(pkt.dst, icmp ? 0 : pkt.dport) : hostPort(pkt.src, icmp ? 0 : pkt.sport);
      if (from !== to) {
        env.trace?.({
          kind: 'nat',
          hook: env.hook,
          type:
            dir === 'orig' ? (manip === 'dst' ? 'dnat' : 'snat') : manip === 'dst' ? 'un-snat' : 'un-dnat',
          from,
          to,
          by: 'conntrack',
        });
      }
    }
  }

  /** nf_nat_icmp_reply_translation: an ICMP error about a NATed connection. */
  private translateRelated(env: EvalEnv, e: CtEntry, dir: 'orig' | 'reply', manip: 'src' | 'dst'): void {
    const pkt = env.pkt;
    const applies =
      manip === 'dst' ? (dir === 'orig' ? e.dstNat : e.srcNat) : dir === 'orig' ? e.srcNat : e.dstNat;
    if (!applies || !pkt.inner) return;
    const target = invertTuple(e.proto, dir === 'orig' ? e.reply : e.orig);
    // The quoted packet travels the other way; rewrite it and the outer header together.
    if (manip === 'dst') {
      pkt.inner.src = target.dst;
      pkt.inner.sport = target.dport;
      pkt.dst = target.dst;
    } else {
      pkt.inner.dst = target.src;
      pkt.inner.dport = target.sport;
      pkt.src = target.src;
    }
    this.refresh(env);
  }

  private ipvsRequest(env: EvalEnv): NfResult | undefined {
    const pkt = env.pkt;
    if (pkt.nf?.ipvsDone) return undefined;
    const pct = env.ct;
    const svc = this.ipvs.lookup(env.family, pkt.proto, pkt.dst, pkt.dport, pkt.mark);
    if (!svc || !pct?.entry || pct.dir !== 'orig') return undefined;
    const e = pct.entry;
    const connKey = `${pkt.proto}|${pkt.src}|${pkt.sport}|${pkt.dst}|${pkt.dport}`;
    let server: { addr: string; port: number };
    if (e.ipvs) {
      const [addr, port] = splitHostPort(e.ipvs.realServer);
      server = { addr, port };
      const u = this.ipvs.touch(connKey, e.tcpState === 'ESTABLISHED', pkt.proto);
      if (u) env.undo(u);
    } else {
      if (pkt.proto === PROTO_TCP && ((pkt.tcpFlags ?? TCP_ACK) & TCP_SYN) === 0) return undefined;
      const pick = this.ipvs.schedule(svc, pkt.src, pkt.sport, pkt.dst);
      if (!pick) {
        return {
          verdict: 'reject',
          reject:
            env.family === 4
              ? { with: 'icmp', icmpType: 3, icmpCode: 3, name: 'icmp-port-unreachable' }
              : { with: 'icmp', icmpType: 1, icmpCode: 4, name: 'icmp6-port-unreachable' },
          reason: `ipvs ${svc.name}: no destination available`,
        };
      }
      let chosen = pick.server;
      if (pick.options.length > 1) {
        const options = pick.options.map((o) => ({
          probability: o.probability,
          label: hostPort(o.server.addr, o.server.port),
          preferred: o.preferred,
        }));
        const i = env.chooser.choose(options, `ipvs ${svc.name} (${svc.scheduler})`);
        chosen = pick.options[i].server;
        env.trace?.({
          kind: 'choice',
          where: `ipvs ${svc.name}`,
          choice: 'ipvs',
          option: options[i].label,
          probability: options[i].probability,
          index: i,
          of: options.length,
        });
      }
      env.undo(this.ipvs.commit(svc, chosen, pkt.src, connKey, pkt.proto, !pick.persistent));
      const prevIpvs = e.ipvs;
      e.ipvs = { service: svc.name, realServer: hostPort(chosen.addr, chosen.port) };
      env.undo(() => {
        e.ipvs = prevIpvs;
      });
      this.conntrack.alterReply(e, { ...e.reply, src: chosen.addr, sport: chosen.port }, env.undo);
      server = chosen;
      env.trace?.({
        kind: 'ipvs',
        hook: env.hook,
        service: svc.name,
        scheduler: svc.scheduler,
        realServer: hostPort(chosen.addr, chosen.port),
        persistent: pick.persistent,
      });
    }
    const from = hostPort(pkt.dst, pkt.dport);
    pkt.dst = server.addr;
    pkt.dport = server.port;
    this.refresh(env);
    env.trace?.({
      kind: 'nat',
      hook: env.hook,
      type: 'dnat',
      from,
      to: hostPort(server.addr, server.port),
      by: `ipvs ${svc.name}`,
    });
    if (pkt.nf) pkt.nf.ipvsDone = true;
    return env.hook === 'INPUT' ? { verdict: 'accept', reroute: true } : undefined;
  }

  private ipvsReply(env: EvalEnv): NfResult | undefined {
    const pct = env.ct;
    const e = pct?.entry;
    if (!e?.ipvs || pct!.dir !== 'reply') return undefined;
    const pkt = env.pkt;
    const from = hostPort(pkt.src, pkt.sport);
    pkt.src = e.orig.dst;
    pkt.sport = e.orig.dport;
    this.refresh(env);
    env.trace?.({
      kind: 'nat',
      hook: env.hook,
      type: 'un-dnat',
      from,
      to: hostPort(pkt.src, pkt.sport),
      by: `ipvs ${e.ipvs.service}`,
    });
    const connKey = `${e.proto}|${e.orig.src}|${e.orig.sport}|${e.orig.dst}|${e.orig.dport}`;
    const u = this.ipvs.touch(connKey, e.tcpState === 'ESTABLISHED', e.proto);
    if (u) env.undo(u);
    return undefined;
  }
}

function splitHostPort(hp: string): [string, number] {
  const m = /^\[(.+)\]:(\d+)$/.exec(hp);
  if (m) return [m[1], Number(m[2])];
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
}

function describeState(p: PacketCt): string {
  return p.state === 'UNTRACKED' ? 'untracked (NOTRACK)' : 'no entry (INVALID)';
}

/** The root namespace gets the plan's netfilter; other namespaces have none. */
export function planHasNetfilter(
  plan: Pick<NodeDataplane, 'iptables' | 'nftables' | 'ipvs' | 'ipset'>,
  netns: string,
): boolean {
  if (netns !== ROOT_NETNS) return false;
  return !!(plan.iptables.ipv4 || plan.iptables.ipv6 || plan.nftables || plan.ipvs || plan.ipset);
}

export type { NfTraceEvent };
