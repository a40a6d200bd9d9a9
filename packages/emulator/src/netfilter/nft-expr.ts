/**
 * nftables rule bodies: the expressions and statements kube-proxy's nftables mode, flannel and
 * NetworkPolicy renderers write (payload/meta/ct/fib/numgen matches, concatenations, set and map
 * lookups, verdict maps, NAT, reject, mark, counters, log), compiled to a list of operations.
 * Anything else is refused with the word nft would stop at.
 */
import type { NatRange } from './conntrack.js';
import type { EvalEnv } from './eval-env.js';
import { splitNatSpec } from './ipt-targets.js';
import type { AddrType } from './netns-view.js';
import type { Token } from './nft-lexer.js';
import { keyOf, type NftData, type NftSet, type NftVerdict, verdictText } from './nft-set.js';
import {
  formatScalar,
  inRange,
  isBitmask,
  isDtype,
  type NftDtype,
  parseLiteral,
  type Range,
  type Scalar,
} from './nft-values.js';
import {
  addrText,
  describePacket,
  hasPorts,
  type IpFamily,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
} from './packet.js';
import type { RejectSpec } from './types.js';

export type NftFamily = 'ip' | 'ip6' | 'inet';

/** What the interpreter hands the ops besides the packet. */
export interface NftEnv extends EvalEnv {
  /** Sets of the table being run (resolved at run time: elements change between packets). */
  sets: Map<string, NftSet>;
  /** Counters and numgen state of the rule being run. */
  ruleState: NftRuleState;
}

export interface NftRuleState {
  packets: number;
  bytes: number;
  /** `numgen inc` counters, per occurrence in the rule. */
  inc: number[];
}

export type NatStmt = { nat: 'dnat' | 'snat' | 'masquerade' | 'redirect'; range: NatRange; text: string };

/** An op returns undefined to go on, false when the rule does not match, or a final action. */
export type OpResult = undefined | false | NftVerdict | ({ kind: 'nat' } & NatStmt);
export type Op = (env: NftEnv) => OpResult;

export interface CompiledRule {
  ops: Op[];
  /** Chains jumped to directly or through an anonymous verdict map. */
  chains: string[];
  /** Named sets and maps the rule uses. */
  sets: string[];
  /** Statements with hook/type restrictions, for the commit checks. */
  nat?: NatStmt['nat'];
  reject: boolean;
  notrack: boolean;
  /** Uses conntrack (a ct expression or NAT): the kernel tracks the family while it exists. */
  ct: boolean;
  comment?: string;
}

export interface RuleParseContext {
  family: NftFamily;
  /** Named set or map of the table (as staged in the transaction). */
  set(name: string): NftSet | undefined;
  chainExists(name: string): boolean;
  fail(message: string, token?: Token): never;
}

interface Selector {
  text: string;
  dtype: NftDtype;
  get(env: NftEnv): Scalar | undefined;
  /** `meta mark` / `ct mark` can be assigned. */
  settable?: 'meta mark' | 'ct mark';
  /** A numgen random selector: the value is drawn from the chooser. */
  numgen?: { mod: number; offset: number; random: boolean };
  /** Sets an L4 protocol context (for NAT ports and reject defaults). */
  l4?: number | 'any';
}

/** Set while parsing when a `ct` expression is seen (read by compileRule). */
const usesCtFlag = { value: false };

const FIB_TYPES: AddrType[] = [
  'UNSPEC',
  'UNICAST',
  'LOCAL',
  'BROADCAST',
  'ANYCAST',
  'MULTICAST',
  'BLACKHOLE',
  'UNREACHABLE',
  'PROHIBIT',
];

const NOT_MODELLED = new Set([
  'limit',
  'quota',
  'queue',
  'meter',
  'tproxy',
  'fwd',
  'dup',
  'synproxy',
  'osf',
  'xt',
  'connlimit',
  'jhash',
  'symhash',
  'rt',
  'socket',
  'ipsec',
  'exthdr',
  'hbh',
  'rt0',
  'frag',
  'dst',
  'mh',
  'ether',
  'vlan',
  'arp',
  'ah',
  'esp',
  'comp',
  'dccp',
  'igmp',
  'tunnel',
  'secmark',
  'synproxy',
]);

class Cursor {
  i = 0;
  constructor(
    public toks: Token[],
    public ctx: RuleParseContext,
  ) {}
  /** Drops the tokens (ops made while parsing may keep the cursor reachable). */
  release(): void {
    this.toks = [];
  }
  peek(k = 0): Token | undefined {
    return this.toks[this.i + k];
  }
  get done(): boolean {
    return this.i >= this.toks.length;
  }
  next(what: string): Token {
    const t = this.toks[this.i++];
    if (!t)
      return this.ctx.fail(
        `syntax error, unexpected end of rule, expecting ${what}`,
        this.toks[this.toks.length - 1],
      );
    return t;
  }
  word(what: string): string {
    const t = this.next(what);
    if (t.kind !== 'word' && t.kind !== 'string')
      return this.ctx.fail(`syntax error, unexpected '${t.value}', expecting ${what}`, t);
    return t.value;
  }
  isWord(v: string, k = 0): boolean {
    const t = this.toks[this.i + k];
    return t !== undefined && t.kind === 'word' && t.value === v;
  }
  isPunct(v: string, k = 0): boolean {
    const t = this.toks[this.i + k];
    return t !== undefined && t.kind === 'punct' && t.value === v;
  }
  expectPunct(v: string): void {
    const t = this.next(`'${v}'`);
    if (t.kind !== 'punct' || t.value !== v)
      this.ctx.fail(`syntax error, unexpected '${t.value}', expecting '${v}'`, t);
  }
  fail(message: string): never {
    return this.ctx.fail(message, this.peek() ?? this.toks[this.toks.length - 1]);
  }
}

function famOf(env: EvalEnv): IpFamily {
  return env.family;
}

/** Parses a selector (the left-hand side of a match), or undefined when the word is not one. */
function parseSelector(c: Cursor, fam: NftFamily): Selector | undefined {
  const t = c.peek();
  if (!t || t.kind !== 'word') return undefined;
  const w = t.value;
  const need = (f: IpFamily, what: string) => {
    if ((fam === 'ip' && f === 6) || (fam === 'ip6' && f === 4)) {
      c.fail(`conflicting protocols specified: ${fam} vs. ${what}`);
    }
  };
  if (w === 'ip' || w === 'ip6') {
    const f: IpFamily = w === 'ip' ? 4 : 6;
    const field = c.peek(1)?.value;
    if (
      field !== 'saddr' &&
      field !== 'daddr' &&
      field !== 'protocol' &&
      field !== 'nexthdr' &&
      field !== 'length'
    ) {
      return undefined;
    }
    need(f, w);
    c.i += 2;
    const dtype: NftDtype = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
    if (field === 'saddr')
      return { text: `${w} saddr`, dtype, get: (e) => (famOf(e) === f ? e.src : undefined) };
    if (field === 'daddr')
      return { text: `${w} daddr`, dtype, get: (e) => (famOf(e) === f ? e.dst : undefined) };
    if (field === 'length')
      return {
        text: `${w} length`,
        dtype: 'integer',
        get: (e) => (famOf(e) === f ? (e.pkt.length ?? 60) : undefined),
      };
    if ((field === 'protocol' && f === 6) || (field === 'nexthdr' && f === 4))
      c.fail(`${w} has no field ${field}`);
    return {
      text: `${w} ${field}`,
      dtype: 'inet_proto',
      get: (e) => (famOf(e) === f ? e.pkt.proto : undefined),
      l4: 'any',
    };
  }
  if (w === 'tcp' || w === 'udp' || w === 'sctp' || w === 'udplite' || w === 'th') {
    const field = c.peek(1)?.value;
    if (field !== 'sport' && field !== 'dport') {
      if (w === 'tcp' && field === 'flags') c.fail('tcp flags matching is not modelled');
      return undefined;
    }
    c.i += 2;
    const proto = w === 'tcp' ? 6 : w === 'udp' ? 17 : w === 'sctp' ? 132 : w === 'udplite' ? 136 : 0;
    const sel = field === 'sport' ? 'sport' : 'dport';
    return {
      text: `${w} ${field}`,
      dtype: 'inet_service',
      get: proto
        ? (e) => (e.pkt.proto === proto ? e.pkt[sel] : undefined)
        : (e) => (hasPorts(e.pkt.proto) ? e.pkt[sel] : undefined),
      l4: proto || 'any',
    };
  }
  if (w === 'icmp' || w === 'icmpv6') {
    const field = c.peek(1)?.value;
    if (field !== 'type' && field !== 'code' && field !== 'id') return undefined;
    const f: IpFamily = w === 'icmp' ? 4 : 6;
    need(f, w);
    c.i += 2;
    const proto = f === 4 ? PROTO_ICMP : PROTO_ICMPV6;
    const ok = (e: NftEnv) => famOf(e) === f && e.pkt.proto === proto;
    if (field === 'type') {
      return {
        text: `${w} type`,
        dtype: f === 4 ? 'icmp_type' : 'icmpv6_type',
        get: (e) => (ok(e) ? (e.pkt.icmpType ?? (f === 4 ? 8 : 128)) : undefined),
        l4: proto,
      };
    }
    if (field === 'code')
      return {
        text: `${w} code`,
        dtype: 'icmp_code',
        get: (e) => (ok(e) ? (e.pkt.icmpCode ?? 0) : undefined),
        l4: proto,
      };
    return {
      text: `${w} id`,
      dtype: 'integer',
      get: (e) => (ok(e) ? (e.pkt.icmpId ?? 0) : undefined),
      l4: proto,
    };
  }
  let key: string | undefined;
  if (w === 'meta') {
    key = c.peek(1)?.value;
    c.i += 2;
  } else if (w === 'mark' || w === 'iifname' || w === 'oifname' || w === 'iif' || w === 'oif') {
    key = w;
    c.i += 1;
  }
  if (key !== undefined) {
    switch (key) {
      case 'l4proto':
        return { text: 'meta l4proto', dtype: 'inet_proto', get: (e) => e.pkt.proto, l4: 'any' };
      case 'nfproto':
        return { text: 'meta nfproto', dtype: 'nf_proto', get: (e) => (famOf(e) === 4 ? 2 : 10) };
      case 'protocol':
        return { text: 'meta protocol', dtype: 'ether_type', get: (e) => (famOf(e) === 4 ? 0x0800 : 0x86dd) };
      case 'mark':
        return { text: 'meta mark', dtype: 'mark', get: (e) => e.pkt.mark, settable: 'meta mark' };
      case 'iifname':
      case 'iif':
        return { text: `meta ${key}`, dtype: 'ifname', get: (e) => e.pkt.iif };
      case 'oifname':
      case 'oif':
        return { text: `meta ${key}`, dtype: 'ifname', get: (e) => e.pkt.oif };
      case 'length':
        return { text: 'meta length', dtype: 'integer', get: (e) => e.pkt.length ?? 60 };
      default:
        return c.fail(`meta ${key ?? ''} is not modelled`);
    }
  }
  if (w === 'ct') {
    c.i += 1;
    usesCtFlag.value = true;
    const k = c.word('ct key');
    const entry = (e: NftEnv) => (e.notrack ? undefined : e.ct?.entry);
    switch (k) {
      case 'state':
        return {
          text: 'ct state',
          dtype: 'ct_state',
          get: (e) => {
            if (e.notrack || e.ct?.state === 'UNTRACKED') return 64;
            const s = e.ct?.state;
            return s === 'NEW' ? 8 : s === 'ESTABLISHED' ? 2 : s === 'RELATED' ? 4 : 1;
          },
        };
      case 'status':
        return {
          text: 'ct status',
          dtype: 'ct_status',
          get: (e) => {
            const x = entry(e);
            if (!x) return undefined;
            let v = 0;
            if (x.seenReply) v |= 2;
            if (x.assured) v |= 4;
            if (x.confirmed) v |= 8;
            if (x.srcNat) v |= 16;
            if (x.dstNat) v |= 32;
            return v;
          },
        };
      case 'direction':
        return {
          text: 'ct direction',
          dtype: 'ct_dir',
          get: (e) => (entry(e) ? (e.ct!.dir === 'orig' ? 0 : 1) : undefined),
        };
      case 'mark':
        return { text: 'ct mark', dtype: 'mark', get: (e) => entry(e)?.mark, settable: 'ct mark' };
      case 'original':
      case 'reply': {
        let f = c.peek()?.value;
        let famWord = '';
        if (f === 'ip' || f === 'ip6') {
          famWord = `${f} `;
          c.i++;
          f = c.peek()?.value;
        }
        c.i++;
        const dir = k === 'original' ? 'orig' : 'reply';
        const addr = (which: 'src' | 'dst') => (e: NftEnv) => {
          const x = entry(e);
          if (!x) return undefined;
          return famOf(e) === 4 ? addrValueOf(x[dir][which], 4) : addrValueOf(x[dir][which], 6);
        };
        const adt: NftDtype = famWord === 'ip6 ' || fam === 'ip6' ? 'ipv6_addr' : 'ipv4_addr';
        if (f === 'saddr') return { text: `ct ${k} ${famWord}saddr`, dtype: adt, get: addr('src') };
        if (f === 'daddr') return { text: `ct ${k} ${famWord}daddr`, dtype: adt, get: addr('dst') };
        if (f === 'proto-src')
          return { text: `ct ${k} proto-src`, dtype: 'inet_service', get: (e) => entry(e)?.[dir].sport };
        if (f === 'proto-dst')
          return { text: `ct ${k} proto-dst`, dtype: 'inet_service', get: (e) => entry(e)?.[dir].dport };
        return c.fail(`ct ${k} ${f ?? ''} is not modelled`);
      }
      default:
        return c.fail(`ct ${k} is not modelled`);
    }
  }
  if (w === 'fib') {
    c.i += 1;
    const which = c.word('saddr or daddr');
    if (which !== 'saddr' && which !== 'daddr') c.fail(`fib ${which}: expected saddr or daddr`);
    const flags: string[] = [];
    while (c.isPunct('.')) {
      c.i++;
      flags.push(c.word('iif, oif or mark'));
    }
    const result = c.word('fib result');
    if (result !== 'type') c.fail(`fib ... ${result} is not modelled (only "type")`);
    const devFlag = flags.find((f) => f === 'iif' || f === 'oif');
    return {
      text: `fib ${[which, ...flags].join(' . ')} type`,
      dtype: 'fib_addrtype',
      get: (e) => {
        const ip = which === 'saddr' ? e.pkt.src : e.pkt.dst;
        const dev = devFlag === 'iif' ? (e.pkt.iif ?? '') : devFlag === 'oif' ? (e.pkt.oif ?? '') : undefined;
        const t = e.host.netns.addrType(ip, e.family, dev);
        const n = FIB_TYPES.indexOf(t);
        return n < 0 ? 1 : n;
      },
    };
  }
  if (w === 'numgen') {
    c.i += 1;
    const how = c.word('random or inc');
    if (how !== 'random' && how !== 'inc') c.fail(`numgen ${how}: expected random or inc`);
    if (c.word('mod') !== 'mod') c.fail('numgen: expected "mod"');
    const modText = c.word('modulus');
    if (!/^\d+$/.test(modText) || Number(modText) === 0) c.fail(`numgen: bad modulus ${modText}`);
    let offset = 0;
    if (c.isWord('offset')) {
      c.i++;
      offset = Number(c.word('offset'));
    }
    const mod = Number(modText);
    return {
      text: `numgen ${how} mod ${mod}${offset ? ` offset ${offset}` : ''}`,
      dtype: 'integer',
      numgen: { mod, offset, random: how === 'random' },
      get: () => undefined,
    };
  }
  if (NOT_MODELLED.has(w)) c.fail(`"${w}" expressions are not modelled`);
  return undefined;
}

function addrValueOf(text: string, f: IpFamily): Scalar {
  if (f === 4) {
    const p = text.split('.');
    return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
  }
  return parseLiteral('ipv6_addr', text).lo;
}

/** Parses `sel [. sel]*`. */
function parseConcat(c: Cursor, fam: NftFamily): Selector[] | undefined {
  const first = parseSelector(c, fam);
  if (!first) return undefined;
  const out = [first];
  while (c.isPunct('.')) {
    c.i++;
    const s = parseSelector(c, fam);
    if (!s) c.fail('syntax error: expected an expression after "."');
    out.push(s!);
  }
  return out;
}

interface Literal {
  ranges: Range[];
  text: string;
}

/** One key of a set element / relational right-hand side: `A [. B]*`. */
function parseKey(c: Cursor, types: NftDtype[]): Literal {
  const ranges: Range[] = [];
  const texts: string[] = [];
  for (let i = 0; i < types.length; i++) {
    if (i > 0) c.expectPunct('.');
    const t = c.next('value');
    if (t.kind !== 'word' && t.kind !== 'string') c.ctx.fail(`syntax error, unexpected '${t.value}'`, t);
    try {
      ranges.push(parseLiteral(types[i], t.value, t.kind === 'string'));
    } catch (e) {
      c.ctx.fail((e as Error).message, t);
    }
    texts.push(t.kind === 'string' ? `"${t.value}"` : t.value);
  }
  if (c.isPunct('.')) c.fail(`too many values for a key of ${types.length} part(s)`);
  return { ranges, text: texts.join(' . ') };
}

export function parseVerdict(c: Cursor): NftVerdict | undefined {
  const w = c.peek()?.value;
  if (c.peek()?.kind !== 'word') return undefined;
  switch (w) {
    case 'accept':
    case 'drop':
    case 'continue':
    case 'return':
      c.i++;
      return { kind: w };
    case 'jump':
    case 'goto': {
      c.i++;
      const t = c.next('chain name');
      if (!c.ctx.chainExists(t.value))
        c.ctx.fail(`Could not process rule: No such file or directory (chain ${t.value})`, t);
      return { kind: w, chain: t.value };
    }
    default:
      return undefined;
  }
}

export interface ElementSpec {
  key: Range[];
  keyText: string;
  data?: NftData;
  timeout?: number;
  comment?: string;
  line: number;
}

/** `{ elem [, elem]* }` with optional `: data`, `timeout`, `comment` per element. */
export function parseElements(
  c: Cursor,
  keyTypes: NftDtype[],
  data: NftDtype[] | 'verdict' | undefined,
): ElementSpec[] {
  c.expectPunct('{');
  const out: ElementSpec[] = [];
  while (c.peek()?.kind === 'nl') c.i++;
  if (c.isPunct('}')) {
    c.i++;
    return out;
  }
  for (;;) {
    while (c.peek()?.kind === 'nl') c.i++;
    const line = c.peek()?.line ?? 0;
    const k = parseKey(c, keyTypes);
    const el: ElementSpec = { key: k.ranges, keyText: k.text, line };
    for (;;) {
      if (c.isWord('timeout')) {
        c.i++;
        el.timeout = parseDuration(c, c.next('timeout'));
      } else if (c.isWord('expires')) {
        c.i++;
        parseDuration(c, c.next('expires'));
      } else if (c.isWord('comment')) {
        c.i++;
        el.comment = c.word('comment');
      } else if (c.isWord('counter')) {
        c.i++;
        if (c.isWord('packets')) c.i += 4;
      } else break;
    }
    if (c.isPunct(':')) {
      c.i++;
      if (!data) c.fail('syntax error: a set element cannot have data (this is not a map)');
      if (data === 'verdict') {
        const v = parseVerdict(c);
        if (!v) c.fail('expected a verdict (accept, drop, jump CHAIN, goto CHAIN, return, continue)');
        el.data = { verdict: v! };
      } else {
        el.data = { values: parseKey(c, data).ranges.map((r) => r.lo) };
      }
    } else if (data) c.fail(`map element ${k.text} needs ": value"`);
    out.push(el);
    while (c.peek()?.kind === 'nl') c.i++;
    if (c.isPunct(',')) {
      c.i++;
      while (c.peek()?.kind === 'nl') c.i++;
      if (c.isPunct('}')) {
        c.i++;
        return out;
      }
      continue;
    }
    c.expectPunct('}');
    return out;
  }
}

export function parseDuration(c: Cursor, t: Token): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(t.value);
  if (!m || t.value === '') return c.ctx.fail(`bad duration "${t.value}"`, t);
  const [, d, h, mi, s, ms] = m;
  return (
    Number(d ?? 0) * 86400 +
    Number(h ?? 0) * 3600 +
    Number(mi ?? 0) * 60 +
    Number(s ?? 0) +
    Number(ms ?? 0) / 1000
  );
}

type RelOp = 'implicit' | 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge';
const OPS: Record<string, RelOp> = {
  '==': 'eq',
  eq: 'eq',
  '!=': 'ne',
  ne: 'ne',
  '<': 'lt',
  lt: 'lt',
  '>': 'gt',
  gt: 'gt',
  '<=': 'le',
  le: 'le',
  '>=': 'ge',
  ge: 'ge',
};

/** Values of a concatenation for one packet; undefined if any part does not apply. */
function keyValues(sels: Selector[], env: NftEnv): Scalar[] | undefined {
  const out: Scalar[] = [];
  for (const s of sels) {
    const v = s.get(env);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

/** Draws a numgen random value through the chooser (uniform over the modulus). */
function numgenValue(sel: Selector, env: NftEnv, incIndex: number, labels?: (v: number) => string): number {
  const g = sel.numgen!;
  if (!g.random) {
    const st = env.ruleState;
    const prev = st.inc[incIndex] ?? 0;
    env.undo(() => {
      st.inc[incIndex] = prev;
    });
    st.inc[incIndex] = (prev + 1) % g.mod;
    return prev + g.offset;
  }
  const options = Array.from({ length: g.mod }, (_, i) => ({
    probability: 1 / g.mod,
    label: labels ? labels(i + g.offset) : String(i + g.offset),
  }));
  const where = `${sel.text}${env.rule ? ` (${env.rule})` : ''}`;
  const pick = env.chooser.choose(options, where);
  env.trace?.({
    kind: 'choice',
    where: env.rule ?? sel.text,
    choice: 'numgen',
    option: options[pick].label!,
    probability: 1 / g.mod,
    index: pick,
    of: g.mod,
  });
  return pick + g.offset;
}

export interface ParsedRule extends CompiledRule {
  /** Text of the rule body as written. */
  text: string;
}

/** Parses and compiles one rule body (the tokens after `add rule FAMILY TABLE CHAIN`). */
export function compileRule(toks: Token[], parseCtx: RuleParseContext): CompiledRule {
  let ctx = parseCtx;
  const c = new Cursor(toks, ctx);
  const fam = ctx.family;
  const ops: Op[] = [];
  usesCtFlag.value = false;
  const out: CompiledRule = { ops, chains: [], sets: [], reject: false, notrack: false, ct: false };
  let l4: number | 'any' | undefined;
  let incCount = 0;
  let terminal = false;
  const useSet = (name: string, t?: Token): NftSet => {
    const s = ctx.set(name);
    if (!s) return ctx.fail(`Could not process rule: No such file or directory (set ${name})`, t);
    if (!out.sets.includes(name)) out.sets.push(name);
    return s;
  };
  const checkTypes = (sels: Selector[], types: NftDtype[], what: string) => {
    if (sels.length !== types.length || sels.some((s, i) => !compatible(s.dtype, types[i]))) {
      c.fail(
        `datatype mismatch: expression has type ${sels.map((s) => s.dtype).join(' . ')}, ${what} has type ${types.join(' . ')}`,
      );
    }
  };

  while (!c.done) {
    if (terminal && !c.isWord('comment')) c.fail('statement after a terminal statement');
    const t = c.peek()!;
    if (t.kind !== 'word') c.fail(`syntax error, unexpected '${t.value}'`);
    const w = t.value;
    const verdict = parseVerdict(c);
    if (verdict) {
      if (verdict.kind === 'jump' || verdict.kind === 'goto') out.chains.push(verdict.chain);
      ops.push(() => verdict);
      if (verdict.kind !== 'continue') terminal = true;
      continue;
    }
    switch (w) {
      case 'counter': {
        c.i++;
        if (c.isWord('packets')) {
          c.i++;
          c.word('packets');
          if (c.word('bytes') !== 'bytes') c.fail('counter: expected "bytes"');
          c.word('bytes');
        } else if (c.isWord('name')) c.fail('named counters are not modelled');
        continue;
      }
      case 'comment': {
        c.i++;
        out.comment = c.word('comment text');
        if (!c.done) c.fail('syntax error: the comment must end the rule');
        continue;
      }
      case 'log': {
        c.i++;
        let prefix = '';
        let level = 'warn';
        for (;;) {
          if (c.isWord('prefix')) {
            c.i++;
            prefix = c.word('prefix');
          } else if (c.isWord('level')) {
            c.i++;
            level = c.word('level');
          } else if (
            c.isWord('flags') ||
            c.isWord('group') ||
            c.isWord('snaplen') ||
            c.isWord('queue-threshold')
          ) {
            c.i += 2;
          } else break;
        }
        ops.push((env) => {
          env.trace?.({ kind: 'log', hook: env.hook, prefix, level, packet: describePacket(env.pkt) });
          return undefined;
        });
        continue;
      }
      case 'notrack':
        c.i++;
        out.notrack = true;
        ops.push((env) => {
          env.notrack = true;
          return undefined;
        });
        continue;
      case 'reject': {
        c.i++;
        out.reject = true;
        const spec = parseReject(c, fam, l4);
        ops.push((env) => ({ kind: 'reject', reject: resolveReject(spec, env.family) }));
        terminal = true;
        continue;
      }
      case 'dnat':
      case 'snat':
      case 'masquerade':
      case 'redirect': {
        c.i++;
        const stmt = parseNat(c, w, fam, l4, useSet);
        out.nat = w;
        out.ct = true;
        ops.push(stmt);
        terminal = true;
        continue;
      }
      case 'update':
      case 'add':
      case 'delete': {
        if (!c.isPunct('@', 1)) break;
        c.i += 2;
        const nameTok = c.next('set name');
        const set = useSet(nameTok.value, nameTok);
        c.expectPunct('{');
        const sels = parseConcat(c, fam);
        if (!sels) c.fail('expected a key expression');
        checkTypes(sels!, set.def.keyTypes, `set ${set.def.name}`);
        let timeout = set.def.timeout;
        if (c.isWord('timeout')) {
          c.i++;
          timeout = parseDuration(c, c.next('timeout'));
        }
        c.expectPunct('}');
        const name = set.def.name;
        const mode = w;
        ops.push((env) => {
          const s = env.sets.get(name);
          const vals = keyValues(sels!, env);
          if (!s || !vals) return false;
          const key = vals.map((v) => ({ lo: v, hi: v }));
          const now = env.host.clock.now();
          if (mode === 'delete') {
            const old = s.remove(key);
            if (old) env.undo(() => s.upsert(old));
            return undefined;
          }
          const cur = s.lookup(vals, now);
          if (mode === 'add' && cur) return undefined;
          const el = { key, expires: timeout ? now + timeout : undefined, packets: 0, bytes: 0 };
          const old = s.upsert(el);
          env.undo(() => {
            if (old) s.upsert(old);
            else s.remove(key);
          });
          return undefined;
        });
        continue;
      }
    }
    if (NOT_MODELLED.has(w)) c.fail(`"${w}" is not modelled`);
    const sels = parseConcat(c, fam);
    if (!sels) c.fail(`syntax error, unexpected '${w}'`);
    for (const s of sels!) if (s.l4 !== undefined && l4 === undefined) l4 = s.l4;
    const single = sels!.length === 1 ? sels![0] : undefined;
    const incIndex = single?.numgen && !single.numgen.random ? incCount++ : 0;
    const selValue = (env: NftEnv, labels?: (v: number) => string): Scalar | undefined =>
      single!.numgen ? numgenValue(single!, env, incIndex, labels) : single!.get(env);
    const values = (env: NftEnv): Scalar[] | undefined =>
      single ? ((v) => (v === undefined ? undefined : [v]))(selValue(env)) : keyValues(sels!, env);

    // `meta mark set EXPR`
    if (c.isWord('set')) {
      c.i++;
      if (!single?.settable) c.fail(`${sels!.map((s) => s.text).join(' . ')} cannot be set`);
      const val = parseMarkExpr(c, fam);
      const target = single!.settable;
      ops.push((env) => {
        const v = val(env);
        if (v === undefined) return false;
        if (target === 'meta mark') env.pkt.mark = v >>> 0;
        else if (env.ct?.entry && !env.notrack) {
          const e = env.ct.entry;
          const prev = e.mark;
          env.undo(() => {
            e.mark = prev;
          });
          e.mark = v >>> 0;
        }
        return undefined;
      });
      continue;
    }
    // verdict map
    if (c.isWord('vmap')) {
      c.i++;
      if (c.isPunct('@')) {
        c.i++;
        const nameTok = c.next('map name');
        const m = useSet(nameTok.value, nameTok);
        if (!m.def.isMap || m.def.dataTypes !== 'verdict') c.fail(`${nameTok.value} is not a verdict map`);
        checkTypes(sels!, m.def.keyTypes, `map ${m.def.name}`);
        const name = m.def.name;
        ops.push((env) => {
          const vals = values(env);
          const s = env.sets.get(name);
          if (!vals || !s) return false;
          const el = s.lookup(vals, env.host.clock.now());
          if (!el || !el.data || !('verdict' in el.data)) return false;
          el.packets++;
          return el.data.verdict;
        });
      } else {
        const types = sels!.map((s) => s.dtype);
        const els = parseElements(c, types, 'verdict');
        const table = new Map<string, NftVerdict>();
        const ranged: { key: Range[]; verdict: NftVerdict }[] = [];
        for (const e of els) {
          const v = (e.data as { verdict: NftVerdict }).verdict;
          if (v.kind === 'jump' || v.kind === 'goto') out.chains.push(v.chain);
          if (e.key.every((r) => !r.wildcard && r.lo === r.hi)) table.set(keyOf(e.key.map((r) => r.lo)), v);
          else ranged.push({ key: e.key, verdict: v });
        }
        const label = (n: number) => {
          const v = table.get(String(n));
          return v ? `${n} : ${verdictText(v)}` : `${n} : (no element)`;
        };
        ops.push((env) => {
          const vals = single?.numgen ? [numgenValue(single, env, incIndex, label)] : values(env);
          if (!vals) return false;
          const hit =
            table.get(keyOf(vals)) ?? ranged.find((r) => r.key.every((k, i) => inRange(k, vals[i])))?.verdict;
          return hit ?? false;
        });
      }
      terminal = true;
      continue;
    }
    if (usesCtFlag.value) out.ct = true;
    if (c.isWord('map')) c.fail('a map lookup is only valid as a statement argument (dnat to ... map)');
    // bitwise transform: `mark and 0x4000 == 0`
    let xform: ((v: number) => number) | undefined;
    if (
      c.isWord('and') ||
      c.isWord('&') ||
      c.isWord('or') ||
      c.isWord('|') ||
      c.isWord('xor') ||
      c.isWord('^')
    ) {
      if (!single || (single.dtype !== 'mark' && single.dtype !== 'integer' && !isBitmask(single.dtype))) {
        c.fail('binary operations are only modelled on marks and integers');
      }
      const op = c.word('operator');
      const arg = Number(c.word('value'));
      if (!Number.isFinite(arg)) c.fail('expected a number after the operator');
      xform =
        op === 'and' || op === '&'
          ? (v) => (v & arg) >>> 0
          : op === 'or' || op === '|'
            ? (v) => (v | arg) >>> 0
            : (v) => (v ^ arg) >>> 0;
    }
    let op: RelOp = 'implicit';
    const opTok = c.peek();
    if (opTok?.kind === 'word' && opTok.value in OPS) {
      op = OPS[opTok.value];
      c.i++;
    }
    // named set lookup
    if (c.isPunct('@')) {
      if (op !== 'implicit' && op !== 'eq' && op !== 'ne')
        c.fail('only == and != are valid with a set lookup');
      c.i++;
      const nameTok = c.next('set name');
      const s = useSet(nameTok.value, nameTok);
      checkTypes(sels!, s.def.keyTypes, `set ${s.def.name}`);
      const name = s.def.name;
      const negate = op === 'ne';
      ops.push((env) => {
        const vals = values(env);
        const set = env.sets.get(name);
        if (!vals || !set) return false;
        const hit = set.lookup(vals, env.host.clock.now());
        if (hit) hit.packets++;
        return !!hit === negate ? false : undefined;
      });
      continue;
    }
    // literal right-hand side
    const types = sels!.map((s) => s.dtype);
    let ranges: Range[][];
    if (c.isPunct('{')) {
      ranges = parseElements(c, types, undefined).map((e) => e.key);
    } else {
      ranges = [parseKey(c, types).ranges];
      while (c.isPunct(',')) {
        c.i++;
        ranges.push(parseKey(c, types).ranges);
      }
    }
    if (
      (op === 'lt' || op === 'gt' || op === 'le' || op === 'ge') &&
      (ranges.length !== 1 || sels!.length !== 1)
    ) {
      c.fail('ordering comparisons need a single value');
    }
    const bitmaskImplicit = op === 'implicit' && single !== undefined && isBitmask(single.dtype) && !xform;
    const mask = bitmaskImplicit ? ranges.reduce((m, r) => m | (r[0].lo as number), 0) : 0;
    const n = sels!.length;
    ops.push((env) => {
      let vals = values(env);
      if (!vals) return false;
      if (xform) vals = [xform(vals[0] as number)];
      let hit: boolean;
      if (bitmaskImplicit) hit = ((vals[0] as number) & mask) !== 0;
      else if (op === 'lt' || op === 'gt' || op === 'le' || op === 'ge') {
        const v = vals[0];
        const r = ranges[0][0];
        hit = op === 'lt' ? v < r.lo : op === 'gt' ? v > r.hi : op === 'le' ? v <= r.hi : v >= r.lo;
      } else {
        hit = false;
        for (const r of ranges) {
          let all = true;
          for (let i = 0; i < n; i++) {
            if (!inRange(r[i], vals[i])) {
              all = false;
              break;
            }
          }
          if (all) {
            hit = true;
            break;
          }
        }
        if (op === 'ne') hit = !hit;
      }
      return hit ? undefined : false;
    });
  }
  if (usesCtFlag.value) out.ct = true;
  c.release();
  c.ctx = RELEASED;
  ctx = RELEASED;
  return out;
}

const RELEASED: RuleParseContext = {
  family: 'ip',
  set: () => undefined,
  chainExists: () => false,
  fail: (m) => {
    throw new Error(m);
  },
};

function compatible(a: NftDtype, b: NftDtype): boolean {
  if (a === b) return true;
  const ints = new Set<NftDtype>(['integer', 'mark']);
  return ints.has(a) && ints.has(b);
}

/** `VALUE` or `[meta] mark|ct mark [op VALUE]...` */
function parseMarkExpr(c: Cursor, fam: NftFamily): (env: NftEnv) => number | undefined {
  let base: (env: NftEnv) => number | undefined;
  const t = c.peek();
  if (t?.kind === 'word' && /^(0x[0-9a-f]+|\d+)$/i.test(t.value)) {
    c.i++;
    const v = Number(t.value) >>> 0;
    base = () => v;
  } else {
    const sel = parseSelector(c, fam);
    if (!sel || sel.dtype !== 'mark') c.fail('expected a mark value or expression');
    base = (env) => sel!.get(env) as number | undefined;
  }
  const steps: ((v: number) => number)[] = [];
  while (
    c.isWord('and') ||
    c.isWord('&') ||
    c.isWord('or') ||
    c.isWord('|') ||
    c.isWord('xor') ||
    c.isWord('^')
  ) {
    const op = c.word('operator');
    const argText = c.word('value');
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(argText)) c.fail(`bad mark value ${argText}`);
    const arg = Number(argText) >>> 0;
    steps.push(
      op === 'and' || op === '&'
        ? (v) => (v & arg) >>> 0
        : op === 'or' || op === '|'
          ? (v) => (v | arg) >>> 0
          : (v) => (v ^ arg) >>> 0,
    );
  }
  return (env) => {
    let v = base(env);
    if (v === undefined) return undefined;
    for (const s of steps) v = s(v);
    return v;
  };
}

interface RejectParse {
  kind: 'tcp' | 'icmp' | 'icmpv6' | 'icmpx';
  code: string;
}

const ICMP_REJECT: Record<string, number> = {
  'net-unreachable': 0,
  'host-unreachable': 1,
  'prot-unreachable': 2,
  'port-unreachable': 3,
  'net-prohibited': 9,
  'host-prohibited': 10,
  'admin-prohibited': 13,
};
const ICMPV6_REJECT: Record<string, number> = {
  'no-route': 0,
  'admin-prohibited': 1,
  'addr-unreachable': 3,
  'port-unreachable': 4,
  'policy-fail': 5,
  'reject-route': 6,
};
const ICMPX: Record<string, [number, number]> = {
  'port-unreachable': [3, 4],
  'admin-prohibited': [13, 1],
  'no-route': [0, 0],
  'host-unreachable': [1, 3],
};

function parseReject(c: Cursor, fam: NftFamily, l4: number | 'any' | undefined): RejectParse {
  if (!c.isWord('with')) {
    if (l4 === PROTO_TCP) return { kind: 'tcp', code: 'reset' };
    return { kind: fam === 'inet' ? 'icmpx' : fam === 'ip6' ? 'icmpv6' : 'icmp', code: 'port-unreachable' };
  }
  c.i++;
  const kind = c.word('tcp, icmp, icmpv6 or icmpx');
  if (kind === 'tcp') {
    if (c.word('reset') !== 'reset') c.fail('expected "tcp reset"');
    if (l4 !== PROTO_TCP) c.fail('reject with tcp reset is only valid after a tcp match');
    return { kind: 'tcp', code: 'reset' };
  }
  if (kind !== 'icmp' && kind !== 'icmpv6' && kind !== 'icmpx') c.fail(`unknown reject type ${kind}`);
  if (c.isWord('type')) c.i++;
  const code = c.word('reject code');
  const table = kind === 'icmp' ? ICMP_REJECT : kind === 'icmpv6' ? ICMPV6_REJECT : ICMPX;
  if (!(code in table)) c.fail(`unknown ${kind} reject code ${code}`);
  if (kind === 'icmp' && fam === 'ip6') c.fail('conflicting protocols specified: ip6 vs. icmp');
  if (kind === 'icmpv6' && fam === 'ip') c.fail('conflicting protocols specified: ip vs. icmpv6');
  return { kind, code };
}

function resolveReject(r: RejectParse, f: IpFamily): RejectSpec {
  if (r.kind === 'tcp') return { with: 'tcp-reset', name: 'tcp reset' };
  if (r.kind === 'icmp')
    return { with: 'icmp', icmpType: 3, icmpCode: ICMP_REJECT[r.code], name: `icmp ${r.code}` };
  if (r.kind === 'icmpv6')
    return { with: 'icmp', icmpType: 1, icmpCode: ICMPV6_REJECT[r.code], name: `icmpv6 ${r.code}` };
  const [c4, c6] = ICMPX[r.code];
  return f === 4
    ? { with: 'icmp', icmpType: 3, icmpCode: c4, name: `icmpx ${r.code}` }
    : { with: 'icmp', icmpType: 1, icmpCode: c6, name: `icmpx ${r.code}` };
}

/** `dnat [ip|ip6] to SPEC [flags]`, `snat ...`, `masquerade [to :P] [flags]`, `redirect [to :P] [flags]`. */
function parseNat(
  c: Cursor,
  kind: NatStmt['nat'],
  fam: NftFamily,
  l4: number | 'any' | undefined,
  useSet: (name: string, t?: Token) => NftSet,
): Op {
  let addrFam: IpFamily | undefined = fam === 'ip' ? 4 : fam === 'ip6' ? 6 : undefined;
  if (c.isWord('ip') || c.isWord('ip6')) {
    const f: IpFamily = c.peek()!.value === 'ip' ? 4 : 6;
    if (addrFam !== undefined && addrFam !== f)
      c.fail(`conflicting protocols specified: ${fam} vs. ${c.peek()!.value}`);
    addrFam = f;
    c.i++;
  }
  // `dnat ip addr . port to EXPR map ...`: the map yields address and port
  let addrPort = false;
  if (c.isWord('addr') && c.isPunct('.', 1) && c.isWord('port', 2)) {
    c.i += 3;
    addrPort = true;
  }
  let fixed: NatRange | undefined;
  let dynamic: ((env: NftEnv) => NatRange | undefined) | undefined;
  const words: string[] = [kind];
  if (c.isWord('to')) {
    c.i++;
    words.push('to');
    const t = c.peek();
    if (kind === 'masquerade' || kind === 'redirect') {
      const w = c.word('port');
      words.push(w);
      const m = /^:?(\d+)(?:-(\d+))?$/.exec(w);
      if (!m) c.fail(`bad port "${w}"`);
      fixed = { minPort: Number(m![1]), maxPort: Number(m![2] ?? m![1]) };
    } else if (
      t &&
      (t.kind === 'word' || t.kind === 'string') &&
      /^[\d[:]|^[0-9a-f]*:/i.test(t.value) &&
      !parseSelectorPeek(t.value)
    ) {
      c.i++;
      words.push(t.value);
      if (addrFam === undefined)
        c.fail(`specify \`${kind} ip' or '${kind} ip6' in inet table to disambiguate`);
      try {
        fixed = parseNftNatSpec(t.value, addrFam!);
      } catch (e) {
        c.ctx.fail((e as Error).message, t);
      }
    } else {
      // `dnat to EXPR map { key : addr [. port] }` / `map @m`
      const sels = parseConcat(c, fam);
      if (!sels) c.fail(`syntax error in ${kind} target`);
      if (!c.isWord('map')) c.fail(`expected "map" after the ${kind} expression`);
      c.i++;
      if (addrFam === undefined)
        c.fail(`specify \`${kind} ip' or '${kind} ip6' in inet table to disambiguate`);
      const adt: NftDtype = addrFam === 4 ? 'ipv4_addr' : 'ipv6_addr';
      const types = sels!.map((s) => s.dtype);
      let lookup: (env: NftEnv, vals: Scalar[]) => NftData | undefined;
      if (c.isPunct('@')) {
        c.i++;
        const nameTok = c.next('map name');
        const m = useSet(nameTok.value, nameTok);
        if (!m.def.isMap || m.def.dataTypes === 'verdict') c.fail(`${nameTok.value} is not a data map`);
        if (addrPort !== (m.def.dataTypes!.length === 2))
          c.fail(`${nameTok.value}: "addr . port" and the map's data type disagree`);
        const name = m.def.name;
        lookup = (env, vals) => env.sets.get(name)?.lookup(vals, env.host.clock.now())?.data;
      } else {
        const dataTypes: NftDtype[] = addrPort || hasConcatData(c) ? [adt, 'inet_service'] : [adt];
        const els = parseElements(c, types, dataTypes);
        const table = new Map(els.map((e) => [keyOf(e.key.map((r) => r.lo)), e.data!] as const));
        lookup = (_env, vals) => table.get(keyOf(vals));
      }
      words.push('<map>');
      const single = sels!.length === 1 ? sels![0] : undefined;
      dynamic = (env) => {
        const vals = single?.numgen ? [numgenValue(single, env, 0)] : keyValues(sels!, env);
        if (!vals) return undefined;
        const d = lookup(env, vals);
        if (!d || !('values' in d)) return undefined;
        const a = addrText(d.values[0] as number | bigint, addrFam!);
        const p = d.values[1] as number | undefined;
        return { minAddr: a, maxAddr: a, ...(p !== undefined ? { minPort: p, maxPort: p } : {}) };
      };
    }
  }
  const flags: NatRange = {};
  while (
    c.peek()?.kind === 'word' &&
    /^(random|fully-random|persistent)(,(random|fully-random|persistent))*$/.test(c.peek()!.value)
  ) {
    const fl = c.word('flags');
    words.push(fl);
    for (const f of fl.split(',')) {
      if (f === 'random') flags.random = true;
      else if (f === 'fully-random') flags.randomFully = true;
      else flags.persistent = true;
    }
  }
  if (fixed?.minPort !== undefined && l4 === undefined) {
    c.fail('transport protocol mapping is only valid after transport protocol match');
  }
  const text = words.join(' ');
  return (env) => {
    const r = dynamic ? dynamic(env) : { ...(fixed ?? {}) };
    if (!r) return false;
    return { kind: 'nat', nat: kind, range: { ...r, ...flags }, text };
  };
}

function hasConcatData(c: Cursor): boolean {
  // look ahead inside `{ k : a . p , ... }` for a `.` after the first `:`
  for (let k = 0; k < 64; k++) {
    const t = c.peek(k);
    if (!t || (t.kind === 'punct' && (t.value === '}' || t.value === ','))) return false;
    if (t.kind === 'punct' && t.value === ':')
      return c.peek(k + 2)?.kind === 'punct' && c.peek(k + 2)?.value === '.';
  }
  return false;
}

function parseSelectorPeek(w: string): boolean {
  return /^(ip|ip6|tcp|udp|th|meta|ct|numgen|fib|mark|iifname|oifname|sctp)$/.test(w);
}

/** `A`, `A:P`, `A:P-Q`, `A-B`, `A-B:P`, `[A6]:P`, `:P`. */
export function parseNftNatSpec(text: string, f: IpFamily): NatRange {
  const { addr, ports } = splitNatSpec(text, f);
  const r: NatRange = {};
  if (addr) {
    const dt: NftDtype = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
    const parts = addr.split('-');
    const lo = parseLiteral(dt, parts[0]);
    const hi = parts[1] !== undefined ? parseLiteral(dt, parts[1]) : lo;
    if (!(lo.lo === lo.hi) || !(hi.lo === hi.hi)) throw new Error(`bad address "${addr}"`);
    r.minAddr = addrText(lo.lo as number | bigint, f);
    r.maxAddr = addrText(hi.lo as number | bigint, f);
  }
  if (ports !== undefined) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(ports);
    if (!m || Number(m[1]) > 65535 || Number(m[2] ?? 0) > 65535) throw new Error(`bad port "${ports}"`);
    r.minPort = Number(m[1]);
    r.maxPort = Number(m[2] ?? m[1]);
  }
  return r;
}

/** Parses a `typeof EXPR` declaration into datatypes. */
export function typeofTypes(toks: Token[], ctx: RuleParseContext): NftDtype[] {
  const c = new Cursor(toks, ctx);
  const sels = parseConcat(c, ctx.family);
  if (!sels || !c.done) ctx.fail('typeof: expected an expression', toks[0]);
  return sels!.map((s) => s.dtype);
}

/** Parses `type T [. T]*` words into datatypes. */
export function typeWords(words: string[], fail: (m: string) => never): NftDtype[] {
  const out: NftDtype[] = [];
  for (let i = 0; i < words.length; i++) {
    if (i % 2 === 1) {
      if (words[i] !== '.') fail(`syntax error in type: unexpected ${words[i]}`);
      continue;
    }
    if (!isDtype(words[i])) fail(`unknown or unmodelled datatype ${words[i]}`);
    out.push(words[i] as NftDtype);
  }
  return out;
}

export { Cursor, formatScalar };
