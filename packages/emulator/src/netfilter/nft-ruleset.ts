/**
 * The nftables state of one namespace and `nft -f` over it: command syntax (`add table`,
 * `add chain ... { type nat hook prerouting priority -100 ; }`, `add rule`, `add element`,
 * `flush chain`, `delete chain`, ...) and the declarative `table ip t { chain c { ... } }` form.
 * A file is one transaction: every command is applied to a staged copy, the kernel's commit
 * checks run (loops reached from a base chain, NAT only under nat chains of the right hooks,
 * references of deleted chains and sets), and only then does the staged copy become live.
 * Behaviour follows nft 1.0.6 with a 6.x kernel (e.g. `dstnat` names a priority only in
 * prerouting; `reject` is valid in prerouting).
 */
import { RuleParseError } from '@podnet/core';
import {
  type CompiledRule,
  compileRule,
  Cursor,
  type NftFamily,
  type NftRuleState,
  parseDuration,
  parseElements,
  type RuleParseContext,
  typeWords,
  typeofTypes,
} from './nft-expr.js';
import { LexError, Lexer, type Token } from './nft-lexer.js';
import { type NftElement, NftSet, type NftSetDef } from './nft-set.js';
import type { NftDtype } from './nft-values.js';
import type { HookName } from './types.js';

export type NftHook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

export const NFT_HOOK: Record<NftHook, HookName> = {
  prerouting: 'PREROUTING',
  input: 'INPUT',
  forward: 'FORWARD',
  output: 'OUTPUT',
  postrouting: 'POSTROUTING',
};

export interface BaseChainSpec {
  type: 'filter' | 'nat' | 'route';
  hook: NftHook;
  priority: number;
  policy: 'accept' | 'drop';
  device?: string;
}

export interface NftRule {
  handle: number;
  /** The rule body as written (tokens re-joined). */
  text: string;
  line: number;
  source: string;
  compiled: CompiledRule;
  state: NftRuleState;
}

export interface NftChain {
  name: string;
  base?: BaseChainSpec;
  comment?: string;
  rules: NftRule[];
  handle: number;
  packets: number;
  bytes: number;
}

export interface NftTable {
  family: NftFamily;
  name: string;
  comment?: string;
  flags: string[];
  chains: Map<string, NftChain>;
  sets: Map<string, NftSet>;
  nextHandle: number;
}

export function tableKey(family: string, name: string): string {
  return `${family} ${name}`;
}

/** Words nft 1.0.6 reads as keywords: unquoted, they cannot name a table, chain or set. */
const KEYWORDS = new Set(
  (
    'fwd dup counter log drop accept ip ip6 inet tcp udp meta ct mark set map type hook rule table chain element handle ' +
    'comment policy priority flags jump goto return reject queue limit masquerade snat dnat redirect notrack fib numgen th ' +
    'icmp ether vlan arp vmap index position add delete insert update timeout size elements interval dynamic constant ' +
    'random iif oif iifname oifname continue bridge netdev define include list flush reset rename create replace describe ' +
    'monitor export import quota synproxy tproxy osf secmark meter exthdr hbh frag dst rt sctp dccp esp ah comp udplite ' +
    'igmp icmpv6 cgroup cpu skuid skgid nftrace rtclassid pkttype'
  ).split(' '),
);

const PRIORITY_NAMES: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};
const FAMILIES = new Set(['ip', 'ip6', 'inet']);
const OTHER_FAMILIES = new Set(['arp', 'bridge', 'netdev']);

class Txn {
  readonly tables: Map<string, NftTable>;
  private readonly ownT = new Set<NftTable>();
  private readonly ownC = new Set<NftChain>();
  private readonly ownS = new Set<NftSet>();
  readonly touched = new Set<string>();
  readonly deletedChains: { table: string; chain: string; line: number }[] = [];

  constructor(live: Map<string, NftTable>) {
    this.tables = new Map(live);
  }

  table(key: string): NftTable {
    const t = this.tables.get(key)!;
    this.touched.add(key);
    if (this.ownT.has(t)) return t;
    const c: NftTable = { ...t, flags: [...t.flags], chains: new Map(t.chains), sets: new Map(t.sets) };
    this.tables.set(key, c);
    this.ownT.add(c);
    return c;
  }

  newTable(t: NftTable): void {
    this.tables.set(tableKey(t.family, t.name), t);
    this.ownT.add(t);
    this.touched.add(tableKey(t.family, t.name));
  }

  chain(t: NftTable, name: string): NftChain {
    const c = t.chains.get(name)!;
    if (this.ownC.has(c)) return c;
    const copy: NftChain = { ...c, rules: c.rules.slice() };
    t.chains.set(name, copy);
    this.ownC.add(copy);
    return copy;
  }

  addChain(t: NftTable, c: NftChain): void {
    t.chains.set(c.name, c);
    this.ownC.add(c);
  }

  set(t: NftTable, name: string): NftSet {
    const s = t.sets.get(name)!;
    if (this.ownS.has(s)) return s;
    const copy = s.clone();
    t.sets.set(name, copy);
    this.ownS.add(copy);
    return copy;
  }

  addSet(t: NftTable, s: NftSet): void {
    t.sets.set(s.def.name, s);
    this.ownS.add(s);
  }
}

export interface NftApplyOptions {
  /** Name used in errors. @default 'nft' */
  source?: string;
  /** Virtual-clock seconds now (element timeouts). @default 0 */
  now?: number;
}

export class NftRuleset {
  tables = new Map<string, NftTable>();
  /** Bumped on every applied transaction, so hook plans can be cached. */
  generation = 0;

  /** Applies `nft -f` input as one transaction. */
  apply(text: string, options: NftApplyOptions = {}): void {
    const source = options.source ?? 'nft';
    const txn = new Txn(this.tables);
    const p = new Parser(new Lexer(text), txn, source, options.now ?? 0);
    try {
      p.run();
    } catch (e) {
      if (e instanceof LexError) throw new RuleParseError(source, e.line, e.message);
      throw e;
    }
    validate(txn, source);
    this.tables = txn.tables;
    this.generation++;
  }
}

function checkName(source: string, t: Token, what: string): void {
  if (t.kind === 'word' && KEYWORDS.has(t.value)) {
    fail(
      source,
      t.line,
      `syntax error, unexpected ${t.value}, expecting string (${what} names that are nft keywords must be quoted)`,
    );
  }
}

function fail(source: string, line: number, message: string): never {
  throw new RuleParseError(source, line, message);
}

class Parser {
  /** The last token read (for error positions). */
  private last: Token | undefined;
  private peeked: Token | undefined;
  constructor(
    readonly lexer: Lexer,
    readonly txn: Txn,
    readonly source: string,
    readonly now: number,
  ) {}

  private fail(message: string, t?: Token): never {
    return fail(this.source, (t ?? this.last)?.line ?? 1, message);
  }

  private read(): Token | undefined {
    const t = this.peeked ?? this.lexer.next();
    this.peeked = undefined;
    if (t) this.last = t;
    return t;
  }

  /** Tokens of one statement: up to a newline or `;` outside braces. */
  private statement(): Token[] {
    const out: Token[] = [];
    let depth = 0;
    for (;;) {
      const t = this.read();
      if (!t) break;
      if (depth === 0 && (t.kind === 'nl' || (t.kind === 'punct' && t.value === ';'))) break;
      if (t.kind === 'punct' && t.value === '{') depth++;
      if (t.kind === 'punct' && t.value === '}') {
        depth--;
        if (depth < 0) this.fail("syntax error, unexpected '}'", t);
      }
      // newlines separate statements inside braces; at the top level they end this one
      out.push(t);
    }
    if (depth > 0) this.fail("syntax error, unexpected end of file, expecting '}'", out[out.length - 1]);
    return out;
  }

  run(): void {
    for (;;) {
      const t = this.read();
      if (!t) return;
      if (t.kind === 'nl' || (t.kind === 'punct' && t.value === ';')) continue;
      this.peeked = t;
      const st = this.statement();
      if (st.length > 0) this.command(st);
    }
  }

  private command(st: Token[]): void {
    const verb = st[0];
    if (verb.kind !== 'word') this.fail(`syntax error, unexpected '${verb.value}'`, verb);
    if (verb.value === 'table') {
      this.tableBlock(st, 1);
      return;
    }
    if (
      verb.value === 'define' ||
      verb.value === 'include' ||
      verb.value === 'redefine' ||
      verb.value === 'undefine'
    ) {
      this.fail(`"${verb.value}" is not modelled`, verb);
    }
    const verbs = ['add', 'create', 'insert', 'replace', 'delete', 'flush', 'list', 'reset'];
    if (!verbs.includes(verb.value)) this.fail(`syntax error, unexpected ${verb.value}`, verb);
    if (verb.value === 'list') return;
    const obj = st[1];
    if (!obj || obj.kind !== 'word')
      this.fail(`syntax error, unexpected end of command after ${verb.value}`, verb);
    const c = new Cursor(st, this.ctxFor('ip', undefined));
    c.i = 2;
    const v = verb.value;
    switch (obj.value) {
      case 'ruleset':
        if (v !== 'flush') this.fail(`${v} ruleset is not supported`, obj);
        {
          const fam = c.peek()?.value;
          for (const [k, t] of [...this.txn.tables]) {
            if (fam && t.family !== fam) continue;
            this.txn.tables.delete(k);
            this.txn.touched.add(k);
          }
        }
        return;
      case 'table':
        this.tableCmd(v, c, obj);
        return;
      case 'chain':
        this.chainCmd(v, c, obj);
        return;
      case 'rule':
        this.ruleCmd(v, c, obj);
        return;
      case 'set':
      case 'map':
        this.setCmd(v, c, obj);
        return;
      case 'element':
        this.elementCmd(v, c, obj);
        return;
      default:
        this.fail(`${obj.value} objects are not modelled`, obj);
    }
  }

  private famAndName(c: Cursor): { family: NftFamily; name: string; tok: Token } {
    let fam = 'ip';
    const t = c.next('table');
    let nameTok = t;
    if (t.kind === 'word' && (FAMILIES.has(t.value) || OTHER_FAMILIES.has(t.value))) {
      const n = c.peek();
      if (n && (n.kind === 'word' || n.kind === 'string') && !(n.value === '{')) {
        fam = t.value;
        nameTok = c.next('table name');
      }
    }
    if (OTHER_FAMILIES.has(fam)) this.fail(`the ${fam} family is not modelled`, t);
    if (nameTok.kind !== 'word' && nameTok.kind !== 'string')
      this.fail(`syntax error, unexpected '${nameTok.value}'`, nameTok);
    checkName(this.source, nameTok, 'table');
    return { family: fam as NftFamily, name: nameTok.value, tok: nameTok };
  }

  private existing(c: Cursor): { t: NftTable; key: string; tok: Token } {
    const { family, name, tok } = this.famAndName(c);
    const key = tableKey(family, name);
    if (!this.txn.tables.has(key)) this.fail(`No such file or directory (table ${family} ${name})`, tok);
    return { t: this.txn.table(key), key, tok };
  }

  private ctxFor(family: NftFamily, t: NftTable | undefined): RuleParseContext {
    return {
      family,
      set: (n) => t?.sets.get(n),
      chainExists: (n) => !!t?.chains.has(n),
      fail: (m, tok) => this.fail(m, tok),
    };
  }

  private tableCmd(v: string, c: Cursor, obj: Token): void {
    const { family, name, tok } = this.famAndName(c);
    const key = tableKey(family, name);
    const exists = this.txn.tables.has(key);
    if (v === 'add' || v === 'create') {
      if (exists && v === 'create') this.fail('Could not process rule: File exists', tok);
      if (!exists) {
        this.txn.newTable({ family, name, flags: [], chains: new Map(), sets: new Map(), nextHandle: 1 });
      }
      const t = this.txn.table(key);
      if (c.isPunct('{')) this.tableProps(c, t);
      if (!c.done) this.fail(`syntax error, unexpected '${c.peek()!.value}'`, c.peek());
      return;
    }
    if (!exists)
      this.fail(`Could not process rule: No such file or directory (table ${family} ${name})`, tok);
    if (v === 'delete') {
      this.txn.tables.delete(key);
      this.txn.touched.add(key);
      return;
    }
    if (v === 'flush') {
      const t = this.txn.table(key);
      for (const name2 of t.chains.keys()) this.txn.chain(t, name2).rules = [];
      return;
    }
    this.fail(`${v} table is not supported`, obj);
  }

  /** `{ comment "x" ; flags f ; }` of a table. */
  private tableProps(c: Cursor, t: NftTable): void {
    c.expectPunct('{');
    for (;;) {
      while (c.isPunct(';') || c.peek()?.kind === 'nl') c.i++;
      if (c.isPunct('}')) {
        c.i++;
        return;
      }
      const w = c.word('table property');
      if (w === 'comment') t.comment = c.word('comment');
      else if (w === 'flags') t.flags = c.word('flags').split(',');
      else this.fail(`syntax error, unexpected ${w}`);
    }
  }

  /** Declarative `table [family] name { chain ... { } set ... { } }`. */
  private tableBlock(st: Token[], from: number): void {
    const c = new Cursor(st, this.ctxFor('ip', undefined));
    c.i = from;
    const { family, name } = this.famAndName(c);
    const key = tableKey(family, name);
    if (!this.txn.tables.has(key)) {
      this.txn.newTable({ family, name, flags: [], chains: new Map(), sets: new Map(), nextHandle: 1 });
    }
    const t = this.txn.table(key);
    c.expectPunct('{');
    // Split the body into statements.
    for (;;) {
      while (c.isPunct(';') || c.peek()?.kind === 'nl') c.i++;
      if (c.isPunct('}')) {
        c.i++;
        break;
      }
      const w = c.next('table statement');
      if (w.value === 'comment') t.comment = c.word('comment');
      else if (w.value === 'flags') t.flags = c.word('flags').split(',');
      else if (w.value === 'chain') {
        const nameTok = c.next('chain name');
        this.defineChain(t, family, nameTok, c, true);
      } else if (w.value === 'set' || w.value === 'map') {
        const nameTok = c.next('set name');
        this.defineSet(t, family, nameTok, w.value === 'map', c, false);
      } else this.fail(`syntax error, unexpected ${w.value}`, w);
    }
    if (!c.done) this.fail(`syntax error, unexpected '${c.peek()!.value}'`, c.peek());
  }

  private chainCmd(v: string, c: Cursor, obj: Token): void {
    const { t } = this.existing(c);
    const nameTok = c.next('chain name');
    const name = nameTok.value;
    if (v === 'add' || v === 'create') {
      if (t.chains.has(name) && v === 'create') this.fail('Could not process rule: File exists', nameTok);
      this.defineChain(t, t.family, nameTok, c, false);
      if (!c.done) this.fail(`syntax error, unexpected '${c.peek()!.value}'`, c.peek());
      return;
    }
    if (!t.chains.has(name))
      this.fail(`Could not process rule: No such file or directory (chain ${name})`, nameTok);
    if (v === 'flush') {
      this.txn.chain(t, name).rules = [];
      return;
    }
    if (v === 'delete') {
      if (t.chains.get(name)!.rules.length > 0)
        this.fail('Could not process rule: Device or resource busy', nameTok);
      t.chains.delete(name);
      this.txn.deletedChains.push({ table: tableKey(t.family, t.name), chain: name, line: nameTok.line });
      return;
    }
    this.fail(`${v} chain is not supported`, obj);
  }

  /** A chain with an optional `{ ... }` body (properties; rules too in the declarative form). */
  private defineChain(t: NftTable, family: NftFamily, nameTok: Token, c: Cursor, declarative: boolean): void {
    const name = nameTok.value;
    checkName(this.source, nameTok, 'chain');
    if (name.length > 255) this.fail('chain name too long', nameTok);
    let chain = t.chains.get(name);
    const isNew = !chain;
    if (!chain) {
      chain = { name, rules: [], handle: t.nextHandle++, packets: 0, bytes: 0 };
      this.txn.addChain(t, chain);
    } else chain = this.txn.chain(t, name);
    if (!c.isPunct('{')) return;
    c.expectPunct('{');
    let spec: BaseChainSpec | undefined;
    let policy: 'accept' | 'drop' | undefined;
    for (;;) {
      while (c.isPunct(';') || c.peek()?.kind === 'nl') c.i++;
      if (c.isPunct('}')) {
        c.i++;
        break;
      }
      const w = c.peek()!;
      if (w.kind === 'word' && w.value === 'type') {
        c.i++;
        const type = c.word('chain type');
        if (type !== 'filter' && type !== 'nat' && type !== 'route')
          this.fail(`unknown chain type ${type}`, w);
        if (c.word('hook') !== 'hook') this.fail('syntax error: expected "hook"', w);
        const hookTok = c.next('hook');
        const hook = hookTok.value as NftHook;
        if (!(hook in NFT_HOOK)) this.fail(`the ${hookTok.value} hook is not modelled`, hookTok);
        let device: string | undefined;
        if (c.isWord('device')) {
          c.i++;
          device = c.word('device');
        }
        if (c.word('priority') !== 'priority') this.fail('syntax error: expected "priority"', w);
        const priority = this.priority(c, hook, w);
        spec = { type, hook, priority, policy: 'accept', device };
        this.checkBase(spec, family, w);
        continue;
      }
      if (w.kind === 'word' && w.value === 'policy') {
        c.i++;
        const p = c.word('policy');
        if (p !== 'accept' && p !== 'drop') this.fail(`unknown policy ${p}`, w);
        policy = p;
        continue;
      }
      if (w.kind === 'word' && w.value === 'comment') {
        c.i++;
        chain.comment = c.word('comment');
        continue;
      }
      if (!declarative) this.fail(`syntax error, unexpected ${w.value}`, w);
      // a rule: up to newline or ';'
      const ruleToks: Token[] = [];
      let depth = 0;
      while (!c.done) {
        const x = c.peek()!;
        if (depth === 0 && (x.kind === 'nl' || (x.kind === 'punct' && (x.value === ';' || x.value === '}'))))
          break;
        if (x.kind === 'punct' && x.value === '{') depth++;
        if (x.kind === 'punct' && x.value === '}') depth--;
        if (x.kind !== 'nl') ruleToks.push(x);
        c.i++;
      }
      this.addRule(t, family, chain, ruleToks, 'append');
    }
    if (policy && !spec && !chain.base) this.fail('policy is only valid on base chains', nameTok);
    if (spec) {
      if (
        !isNew &&
        (!chain.base ||
          chain.base.type !== spec.type ||
          chain.base.hook !== spec.hook ||
          chain.base.priority !== spec.priority)
      ) {
        this.fail(
          'Could not process rule: Operation not supported (a chain cannot change its type, hook or priority)',
          nameTok,
        );
      }
      chain.base = { ...spec, policy: policy ?? chain.base?.policy ?? 'accept' };
    } else if (policy && chain.base) chain.base = { ...chain.base, policy };
  }

  private priority(c: Cursor, hook: NftHook, at: Token): number {
    const t = c.next('priority');
    let base: number;
    let named: string | undefined;
    if (/^-?\d+$/.test(t.value)) base = Number(t.value);
    else if (t.value in PRIORITY_NAMES) {
      named = t.value;
      base = PRIORITY_NAMES[t.value];
    } else return this.fail('invalid priority expression value in this context.', t);
    if (named === 'dstnat' && hook !== 'prerouting')
      this.fail('invalid priority expression value in this context.', t);
    if (named === 'srcnat' && hook !== 'postrouting')
      this.fail('invalid priority expression value in this context.', t);
    if (named && (c.isWord('+') || c.isWord('-'))) {
      const sign = c.word('+ or -') === '+' ? 1 : -1;
      const n = c.word('number');
      if (!/^\d+$/.test(n)) this.fail(`invalid priority offset ${n}`, at);
      base += sign * Number(n);
    }
    return base;
  }

  private checkBase(s: BaseChainSpec, family: NftFamily, at: Token): void {
    if (s.type === 'nat') {
      if (s.hook === 'forward')
        this.fail(
          'Could not process rule: Operation not supported (nat chains cannot use the forward hook)',
          at,
        );
      if (s.priority <= -200)
        this.fail(
          'Could not process rule: Operation not supported (nat chain priority must be above conntrack, -200)',
          at,
        );
    }
    if (s.type === 'route' && s.hook !== 'output')
      this.fail('Could not process rule: Operation not supported (route chains only hook output)', at);
    void family;
  }

  private ruleCmd(v: string, c: Cursor, obj: Token): void {
    const { t } = this.existing(c);
    const chainTok = c.next('chain name');
    checkName(this.source, chainTok, 'chain');
    if (!t.chains.has(chainTok.value))
      this.fail(`Could not process rule: No such file or directory (chain ${chainTok.value})`, chainTok);
    const chain = this.txn.chain(t, chainTok.value);
    let where: { kind: 'handle' | 'index'; n: number } | undefined;
    if (c.isWord('handle') || c.isWord('position') || c.isWord('index')) {
      const k = c.word('position');
      const n = c.word('number');
      if (!/^\d+$/.test(n)) this.fail(`bad ${k} ${n}`, chainTok);
      where = { kind: k === 'index' ? 'index' : 'handle', n: Number(n) };
    }
    const rest = c.toks.slice(c.i);
    if (v === 'delete') {
      if (where?.kind !== 'handle' || rest.length > 0) this.fail('delete rule needs "handle N"', obj);
      const at = chain.rules.findIndex((r) => r.handle === where!.n);
      if (at < 0) this.fail(`Could not process rule: No such file or directory (handle ${where!.n})`, obj);
      chain.rules.splice(at, 1);
      return;
    }
    if (v === 'add' || v === 'insert' || v === 'create') {
      this.addRule(t, t.family, chain, rest, v === 'insert' ? 'insert' : 'append', where);
      return;
    }
    if (v === 'replace') {
      if (where?.kind !== 'handle') this.fail('replace rule needs "handle N"', obj);
      const at = chain.rules.findIndex((r) => r.handle === where!.n);
      if (at < 0) this.fail(`Could not process rule: No such file or directory (handle ${where!.n})`, obj);
      const r = this.buildRule(t, t.family, rest);
      r.handle = where!.n;
      chain.rules[at] = r;
      return;
    }
    this.fail(`${v} rule is not supported`, obj);
  }

  private buildRule(t: NftTable, family: NftFamily, toks: Token[]): NftRule {
    if (toks.length === 0) this.fail('syntax error: empty rule');
    const compiled = compileRule(toks, this.ctxFor(family, t));
    return {
      handle: t.nextHandle++,
      text: joinTokens(toks),
      line: toks[0].line,
      source: this.source,
      compiled,
      state: { packets: 0, bytes: 0, inc: [] },
    };
  }

  private addRule(
    t: NftTable,
    family: NftFamily,
    chain: NftChain,
    toks: Token[],
    mode: 'append' | 'insert',
    where?: { kind: 'handle' | 'index'; n: number },
  ): void {
    const r = this.buildRule(t, family, toks);
    if (!where) {
      if (mode === 'append') chain.rules.push(r);
      else chain.rules.unshift(r);
      return;
    }
    let at: number;
    if (where.kind === 'handle') {
      at = chain.rules.findIndex((x) => x.handle === where.n);
      if (at < 0) this.fail(`Could not process rule: No such file or directory (handle ${where.n})`, toks[0]);
    } else {
      at = where.n;
      if (at >= chain.rules.length)
        this.fail(`Could not process rule: No such file or directory (index ${where.n})`, toks[0]);
    }
    chain.rules.splice(mode === 'append' ? at + 1 : at, 0, r);
  }

  private setCmd(v: string, c: Cursor, obj: Token): void {
    const { t } = this.existing(c);
    const nameTok = c.next('set name');
    const isMap = obj.value === 'map';
    const s = t.sets.get(nameTok.value);
    if (v === 'add' || v === 'create') {
      if (s && v === 'create') this.fail('Could not process rule: File exists', nameTok);
      this.defineSet(t, t.family, nameTok, isMap, c, true);
      if (!c.done) this.fail(`syntax error, unexpected '${c.peek()!.value}'`, c.peek());
      return;
    }
    if (!s)
      this.fail(`Could not process rule: No such file or directory (${obj.value} ${nameTok.value})`, nameTok);
    if (s!.def.isMap !== isMap) this.fail(`${nameTok.value} is not a ${obj.value}`, nameTok);
    if (v === 'flush') {
      this.txn.set(t, nameTok.value).flush();
      return;
    }
    if (v === 'delete') {
      for (const ch of t.chains.values()) {
        if (ch.rules.some((r) => r.compiled.sets.includes(nameTok.value))) {
          this.fail('Could not process rule: Device or resource busy', nameTok);
        }
      }
      t.sets.delete(nameTok.value);
      return;
    }
    this.fail(`${v} ${obj.value} is not supported`, obj);
  }

  private defineSet(
    t: NftTable,
    family: NftFamily,
    nameTok: Token,
    isMap: boolean,
    c: Cursor,
    requireBody: boolean,
  ): void {
    const name = nameTok.value;
    checkName(this.source, nameTok, isMap ? 'map' : 'set');
    if (!c.isPunct('{')) {
      if (requireBody || !t.sets.has(name))
        this.fail(`syntax error: ${isMap ? 'map' : 'set'} ${name} needs a { type ... } body`, nameTok);
      return;
    }
    c.expectPunct('{');
    const def: NftSetDef = { name, isMap, keyTypes: [], flags: new Set(), line: nameTok.line };
    let elements: Token[] | undefined;
    for (;;) {
      while (c.isPunct(';') || c.peek()?.kind === 'nl') c.i++;
      if (c.isPunct('}')) {
        c.i++;
        break;
      }
      const w = c.next('set property');
      switch (w.value) {
        case 'type':
        case 'typeof': {
          const words: Token[] = [];
          while (!c.done && !c.isPunct(';') && c.peek()!.kind !== 'nl' && !c.isPunct('}'))
            words.push(c.next('type'));
          const colon = words.findIndex((x) => x.kind === 'punct' && x.value === ':');
          const keyToks = colon < 0 ? words : words.slice(0, colon);
          const dataToks = colon < 0 ? [] : words.slice(colon + 1);
          if (isMap && colon < 0) this.fail('a map type needs "KEY : VALUE"', w);
          if (!isMap && colon >= 0) this.fail('a set type cannot have a value', w);
          const fail = (m: string): never => this.fail(m, w);
          def.keyTypes =
            w.value === 'type'
              ? typeWords(
                  keyToks.map((x) => x.value),
                  fail,
                )
              : typeofTypes(keyToks, this.ctxFor(family, t));
          if (isMap) {
            if (dataToks.length === 1 && dataToks[0].value === 'verdict') def.dataTypes = 'verdict';
            else
              def.dataTypes = typeWords(
                dataToks.map((x) => x.value),
                fail,
              ) as NftDtype[];
          }
          break;
        }
        case 'flags':
          for (const f of c.word('flags').split(',')) {
            if (!['interval', 'timeout', 'dynamic', 'constant'].includes(f))
              this.fail(`set flag ${f} is not modelled`, w);
            def.flags.add(f);
          }
          while (c.isPunct(',')) {
            c.i++;
            def.flags.add(c.word('flag'));
          }
          break;
        case 'timeout':
          def.timeout = parseDuration(c, c.next('timeout'));
          def.flags.add('timeout');
          break;
        case 'gc-interval':
          parseDuration(c, c.next('gc-interval'));
          break;
        case 'size':
          c.word('size');
          break;
        case 'policy':
          c.word('policy');
          break;
        case 'auto-merge':
        case 'counter':
          break;
        case 'comment':
          def.comment = c.word('comment');
          break;
        case 'elements': {
          c.word('=');
          const start = c.i;
          let depth = 0;
          do {
            const x = c.next('}');
            if (x.kind === 'punct' && x.value === '{') depth++;
            if (x.kind === 'punct' && x.value === '}') depth--;
          } while (depth > 0);
          elements = c.toks.slice(start, c.i);
          break;
        }
        default:
          this.fail(`syntax error, unexpected ${w.value}`, w);
      }
    }
    if (def.keyTypes.length === 0) this.fail(`${isMap ? 'map' : 'set'} ${name} has no type`, nameTok);
    const cur = t.sets.get(name);
    if (cur) {
      const same =
        cur.def.isMap === isMap &&
        cur.def.keyTypes.join() === def.keyTypes.join() &&
        String(cur.def.dataTypes) === String(def.dataTypes) &&
        [...cur.def.flags].sort().join() === [...def.flags].sort().join();
      if (!same)
        this.fail('Could not process rule: File exists (the existing set has another definition)', nameTok);
    } else {
      const s = new NftSet(def);
      s.handle = t.nextHandle++;
      this.txn.addSet(t, s);
    }
    if (elements) this.addElements(t, family, name, elements, 'add');
  }

  private elementCmd(v: string, c: Cursor, obj: Token): void {
    const { t } = this.existing(c);
    const nameTok = c.next('set name');
    if (!t.sets.has(nameTok.value))
      this.fail(`Could not process rule: No such file or directory (set ${nameTok.value})`, nameTok);
    if (v !== 'add' && v !== 'create' && v !== 'delete') this.fail(`${v} element is not supported`, obj);
    this.addElements(t, t.family, nameTok.value, c.toks.slice(c.i), v);
  }

  private addElements(
    t: NftTable,
    family: NftFamily,
    name: string,
    toks: Token[],
    mode: 'add' | 'create' | 'delete',
  ): void {
    const set = this.txn.set(t, name);
    const c = new Cursor(toks, this.ctxFor(family, t));
    const els = parseElements(
      c,
      set.def.keyTypes,
      mode === 'delete' ? undefined : set.def.isMap ? set.def.dataTypes : undefined,
    );
    if (!c.done) this.fail(`syntax error, unexpected '${c.peek()!.value}'`, c.peek());
    const interval = set.def.flags.has('interval');
    for (const e of els) {
      if (!interval && e.key.some((r) => r.lo !== r.hi || r.wildcard)) {
        this.fail(
          "You must add 'flags interval' to your set declaration if you want to add prefix elements",
          toks[0],
        );
      }
      if (mode === 'delete') {
        if (!set.remove(e.key))
          this.fail('Could not process rule: No such file or directory (element)', toks[0]);
        continue;
      }
      if (e.timeout !== undefined && !set.def.flags.has('timeout')) {
        this.fail('set does not support element timeouts (add "flags timeout")', toks[0]);
      }
      const timeout = e.timeout ?? set.def.timeout;
      const el: NftElement = {
        key: e.key,
        data: e.data,
        comment: e.comment,
        expires: timeout ? this.now + timeout : undefined,
        packets: 0,
        bytes: 0,
      };
      if (!set.add(el) && mode === 'create') this.fail('Could not process rule: File exists', toks[0]);
    }
  }
}

function joinTokens(toks: Token[]): string {
  const parts: string[] = [];
  let prev: Token | undefined;
  for (const t of toks) {
    const v = t.kind === 'string' ? JSON.stringify(t.value) : t.value;
    if (prev && !(prev.kind === 'punct' && prev.value === '@') && !(t.kind === 'punct' && t.value === ','))
      parts.push(' ');
    parts.push(v);
    prev = t;
  }
  return parts.join('');
}

/** The kernel's checks at commit, for the tables this transaction touched. */
function validate(txn: Txn, source: string): void {
  for (const d of txn.deletedChains) {
    const t = txn.tables.get(d.table);
    if (!t) continue;
    if (t.chains.has(d.chain)) continue;
    for (const c of t.chains.values()) {
      for (const r of c.rules) {
        if (r.compiled.chains.includes(d.chain))
          fail(
            source,
            d.line,
            `Could not process rule: Device or resource busy (chain ${d.chain} is used by ${c.name})`,
          );
      }
    }
    for (const s of t.sets.values()) {
      if (s.def.dataTypes !== 'verdict') continue;
      for (const e of s.elements()) {
        const v = e.data && 'verdict' in e.data ? e.data.verdict : undefined;
        if (v && (v.kind === 'jump' || v.kind === 'goto') && v.chain === d.chain) {
          fail(
            source,
            d.line,
            `Could not process rule: Device or resource busy (chain ${d.chain} is used by map ${s.def.name})`,
          );
        }
      }
    }
  }
  for (const key of txn.touched) {
    const t = txn.tables.get(key);
    if (t) validateTable(t, source);
  }
}

/** Chains a chain can continue in: direct jumps, anonymous and named verdict maps. */
function successors(t: NftTable, c: NftChain): { chain: string; rule: NftRule }[] {
  const out: { chain: string; rule: NftRule }[] = [];
  for (const r of c.rules) {
    for (const n of r.compiled.chains) out.push({ chain: n, rule: r });
    for (const sn of r.compiled.sets) {
      const s = t.sets.get(sn);
      if (!s || s.def.dataTypes !== 'verdict') continue;
      for (const e of s.elements()) {
        const v = e.data && 'verdict' in e.data ? e.data.verdict : undefined;
        if (v && (v.kind === 'jump' || v.kind === 'goto')) out.push({ chain: v.chain, rule: r });
      }
    }
  }
  return out;
}

function validateTable(t: NftTable, source: string): void {
  const succ = new Map<string, { chain: string; rule: NftRule }[]>();
  const next = (name: string) => {
    let s = succ.get(name);
    if (!s) {
      const c = t.chains.get(name);
      s = c ? successors(t, c) : [];
      succ.set(name, s);
    }
    return s;
  };
  for (const base of t.chains.values()) {
    if (!base.base) continue;
    const spec = base.base;
    const seen = new Set<string>();
    const onPath = new Set<string>();
    const visit = (name: string, via: NftRule | undefined) => {
      if (onPath.has(name))
        fail(source, via?.line ?? 1, `Could not process rule: Too many links (loop through chain ${name})`);
      if (seen.has(name)) return;
      seen.add(name);
      onPath.add(name);
      const c = t.chains.get(name);
      if (c) {
        for (const r of c.rules) checkRule(r, spec, c, source);
        for (const s of next(name)) visit(s.chain, s.rule);
      }
      onPath.delete(name);
    };
    visit(base.name, undefined);
  }
}

function checkRule(r: NftRule, spec: BaseChainSpec, c: NftChain, source: string): void {
  const k = r.compiled;
  const bad = (why: string): never =>
    fail(
      source,
      r.line,
      `Could not process rule: Operation not supported (${why}; chain ${c.name} is reached from a ${spec.type} chain at hook ${spec.hook})`,
    );
  if (k.nat) {
    if (spec.type !== 'nat') bad(`${k.nat} needs a nat chain`);
    const hooks: Record<string, NftHook[]> = {
      dnat: ['prerouting', 'output'],
      redirect: ['prerouting', 'output'],
      snat: ['postrouting', 'input'],
      masquerade: ['postrouting'],
    };
    if (!hooks[k.nat].includes(spec.hook)) bad(`${k.nat} is not valid at hook ${spec.hook}`);
  }
  if (k.reject && !['input', 'forward', 'output', 'prerouting'].includes(spec.hook))
    bad('reject is not valid at this hook');
  if (k.notrack && !['prerouting', 'output'].includes(spec.hook))
    bad('notrack is only valid at prerouting and output');
}
