/**
 * One iptables rule line (`-A CHAIN <matches> -j TARGET <options>`) parsed getopt-style as
 * iptables does: `!` inverts the next option, `-m NAME` makes a module's options available,
 * `-p tcp` loads the tcp match implicitly, and any option nobody claims is an error.
 */
import { RuleParseError } from '@podnet/core';
import { type Prefix, parsePrefix, prefixMatcher } from './addr-match.js';
import {
  type CompiledMatch,
  createMatch,
  ifaceMatcher,
  implicitProtoMatch,
  type MatchFn,
  type MatchInstance,
  type RuleContext,
} from './ipt-matches.js';
import { createTarget, type IptTarget, type TargetInstance, type TargetScope } from './ipt-targets.js';
import type { EvalEnv } from './eval-env.js';
import { type AddrValue, type IpFamily, protoNumber } from './packet.js';

export interface IptRule {
  table: string;
  chain: string;
  /** The rule as written, e.g. `-A KUBE-SERVICES -m comment ... -j KUBE-SVC-X`. */
  text: string;
  source: string;
  line: number;
  matches: MatchFn[];
  target: IptTarget;
  scope?: TargetScope;
  comment?: string;
  recentNames: string[];
  setNames: string[];
  /** Exact single-host destination (for indexing large chains). */
  dstHost?: AddrValue;
  /** Uses `-i` (refused in OUTPUT/POSTROUTING) or `-o` (refused in PREROUTING/INPUT). */
  usesIn: boolean;
  usesOut: boolean;
  /** Needs conntrack (a ct match or a NAT/CT target): the kernel tracks the family while such a rule exists. */
  usesCt: boolean;
  packets: number;
  bytes: number;
}

export interface RuleSpec {
  family: IpFamily;
  table: string;
  chain: string;
  source: string;
  line: number;
  text: string;
  /** Chains that exist in the table (jump targets must). */
  chainExists(name: string): boolean;
  fail(message: string): never;
}

const BUILTIN_TARGET_NAMES = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE']);
const NONE: string[] = [];

/** Parses the words after `-A CHAIN` into rules (a comma list in -s/-d makes several). */
export function parseRuleWords(words: string[], spec: RuleSpec): IptRule[] {
  const { family, fail } = spec;
  const rc: RuleContext = { family, table: spec.table, chain: spec.chain, protoInverted: false, fail };
  let invert = false;
  let srcs: Prefix[] | undefined;
  let srcInv = false;
  let dsts: Prefix[] | undefined;
  let dstInv = false;
  let inIf: { name: string; invert: boolean } | undefined;
  let outIf: { name: string; invert: boolean } | undefined;
  let fragment: { invert: boolean } | undefined;
  const modules: MatchInstance[] = [];
  let target: TargetInstance | undefined;
  let jump: { chain: string; goto: boolean } | undefined;
  const seen = new Set<string>();
  const once = (opt: string) => {
    if (seen.has(opt)) fail(`multiple ${opt} flags not allowed`);
    seen.add(opt);
  };
  const addrList = (text: string, inv: boolean): Prefix[] => {
    const items = text.split(',');
    if (inv && items.length > 1) fail('! not allowed with multiple source or destination IP addresses');
    return items.map((t) => {
      const p = parsePrefix(t, family);
      if (!p) fail(`host/network \`${t}' not found`);
      return p!;
    });
  };

  let i = 0;
  let w = '';
  const arg = (): string => {
    const v = words[++i];
    if (v === undefined) fail(`option "${w}" requires an argument`);
    return v;
  };
  for (; i < words.length; i++) {
    w = words[i];
    if (w === '!') {
      if (invert) fail('multiple consecutive ! not allowed');
      invert = true;
      continue;
    }
    const inv = invert;
    invert = false;
    switch (w) {
      case '-p':
      case '--protocol': {
        once('-p');
        const v = arg();
        if (v === 'all' || v === '0') {
          if (inv) fail('rule would never match protocol');
          break;
        }
        const n = protoNumber(v === 'icmpv6' || v === 'ipv6-icmp' ? 'icmpv6' : v);
        if (n === undefined) fail(`unknown protocol "${v}" specified`);
        rc.proto = n;
        rc.protoInverted = inv;
        break;
      }
      case '-s':
      case '--source':
      case '--src':
        once('-s');
        srcs = addrList(arg(), inv);
        srcInv = inv;
        break;
      case '-d':
      case '--destination':
      case '--dst':
        once('-d');
        dsts = addrList(arg(), inv);
        dstInv = inv;
        break;
      case '-i':
      case '--in-interface':
        once('-i');
        inIf = { name: ifname(arg(), fail), invert: inv };
        break;
      case '-o':
      case '--out-interface':
        once('-o');
        outIf = { name: ifname(arg(), fail), invert: inv };
        break;
      case '-f':
      case '--fragment':
        once('-f');
        fragment = { invert: inv };
        break;
      case '-m':
      case '--match': {
        if (inv) fail('unexpected ! flag before --match');
        const name = arg();
        const m = createMatch(name, family);
        if (!m) fail(`Couldn't load match \`${name}': No such file or directory`);
        modules.push(m!);
        break;
      }
      case '-j':
      case '--jump':
      case '-g':
      case '--goto': {
        if (inv) fail('cannot invert a target');
        if (target || jump) fail('multiple -j flags not allowed');
        const name = arg();
        const isGoto = w === '-g' || w === '--goto';
        const t = isGoto ? undefined : createTarget(name, family);
        if (t) target = t;
        else if (BUILTIN_TARGET_NAMES.has(name)) fail(`goto '${name}' is not a chain`);
        else {
          if (!spec.chainExists(name)) fail(`Chain '${name}' does not exist`);
          jump = { chain: name, goto: isGoto };
        }
        break;
      }
      case '-c':
      case '--set-counters':
        arg();
        arg();
        break;
      default: {
        if (!w.startsWith('-')) fail(`Bad argument \`${w}'`);
        let owner:
          | { set: (o: string, a: string[], i: boolean) => void; options: Record<string, number> }
          | undefined = modules.find((m) => w in m.options);
        if (!owner && target && w in target.options) owner = target;
        if (!owner && rc.proto !== undefined) {
          const implicit = implicitProtoMatch(rc.proto, family);
          if (implicit && !modules.some((m) => m.name === implicit)) {
            const m = createMatch(implicit, family)!;
            if (w in m.options) {
              modules.push(m);
              owner = m;
            }
          }
        }
        if (!owner) fail(`unknown option "${w}"`);
        const n = owner!.options[w];
        const args: string[] = [];
        for (let k = 0; k < n; k++) args.push(arg());
        try {
          owner!.set(w, args, inv);
        } catch (e) {
          fail((e as Error).message);
        }
      }
    }
  }
  if (invert) fail('trailing ! without an option');

  const compiled: CompiledMatch[] = modules.map((m) => {
    try {
      return m.finish(rc);
    } catch (e) {
      if (e instanceof RuleParseError) throw e;
      return fail((e as Error).message);
    }
  });
  let tgt: IptTarget;
  try {
    tgt = target ? target.finish(rc) : jump ? { kind: 'jump', ...jump } : { kind: 'none' };
  } catch (e) {
    if (e instanceof RuleParseError) throw e;
    return fail((e as Error).message);
  }

  const base: MatchFn[] = [];
  if (rc.proto !== undefined) base.push(protoMatch(rc.proto, rc.protoInverted));
  if (inIf) base.push(ifaceMatcher(inIf.name, inIf.invert, getIif));
  if (outIf) base.push(ifaceMatcher(outIf.name, outIf.invert, getOif));
  // Conntrack reassembles before any table sees a packet, so `-f` never matches.
  if (fragment) base.push(constMatch(fragment.invert));
  const moduleFns: MatchFn[] = [];
  let comment: string | undefined;
  let recentNames = NONE;
  let setNames = NONE;
  for (const c of compiled) {
    for (const f of c.fns) moduleFns.push(f);
    if (c.comment !== undefined) comment ??= c.comment;
    if (c.recentNames) recentNames = [...recentNames, ...c.recentNames];
    if (c.setNames) setNames = [...setNames, ...c.setNames];
  }
  const width = family === 4 ? 32 : 128;
  const usesCt =
    modules.some((m) => m.name === 'conntrack' || m.name === 'state') ||
    tgt.kind === 'nat' ||
    tgt.kind === 'notrack';

  const out: IptRule[] = [];
  for (const s of srcs ?? [undefined]) {
    for (const d of dsts ?? [undefined]) {
      const fns: MatchFn[] = [];
      if (d) fns.push(addrMatch(prefixMatcher(d), dstInv, true));
      if (s) fns.push(addrMatch(prefixMatcher(s), srcInv, false));
      for (const f of base) fns.push(f);
      for (const f of moduleFns) fns.push(f);
      out.push({
        table: spec.table,
        chain: spec.chain,
        text: spec.text,
        source: spec.source,
        line: spec.line,
        matches: fns,
        target: tgt,
        scope: target?.scope,
        comment,
        recentNames,
        setNames,
        dstHost: d && !dstInv && d.bits === width ? d.net : undefined,
        usesIn: !!inIf,
        usesOut: !!outIf,
        usesCt: usesCt,
        packets: 0,
        bytes: 0,
      });
    }
  }
  return out;
}

// Match closures are made here, outside parseRuleWords, so a rule keeps only what it tests
// (a closure made inside would keep the whole parse scope, words included, alive).
function protoMatch(p: number, inv: boolean): MatchFn {
  return (env) => (env.pkt.proto === p) !== inv;
}

function constMatch(v: boolean): MatchFn {
  return () => v;
}

function addrMatch(m: (v: AddrValue) => boolean, inv: boolean, dst: boolean): MatchFn {
  return dst ? (env) => m(env.dst) !== inv : (env) => m(env.src) !== inv;
}

const getIif = (env: EvalEnv) => env.pkt.iif;
const getOif = (env: EvalEnv) => env.pkt.oif;

function ifname(name: string, fail: (m: string) => never): string {
  if (name.length === 0 || name.length > 15 || /[\s/]/.test(name))
    fail(`Warning: weird character in interface \`${name}'`);
  return name;
}
