/**
 * The iptables state of one family in one namespace and `iptables-restore` over it, with the
 * semantics of iptables 1.8 (nf_tables backend) as checked against the kernel:
 * - `*table` without `--noflush` empties the table (rules, user chains, built-in policies);
 * - `:CHAIN` creates a user chain or, with `--noflush`, flushes an existing one; on a built-in
 *   chain it only sets the policy;
 * - a jump target must be declared before the rule that uses it;
 * - each table is applied at its `COMMIT`, atomically; an error leaves that table untouched;
 * - the kernel's checks run at COMMIT: no loops, NAT targets only in `nat` reached from their
 *   hooks, REJECT only in `filter`, `-X` only of empty unreferenced chains.
 */
import { RuleParseError } from '@podnet/core';
import { type IptRule, parseRuleWords } from './ipt-rule.js';
import type { AddrValue, IpFamily } from './packet.js';
import type { HookName } from './types.js';
import { splitWords } from './words.js';

export const IPT_TABLES: Record<string, HookName[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** Hook priorities of the iptables tables (nat's are those of its hooks: dstnat/srcnat). */
export const IPT_PRIORITY: Record<string, number> = {
  raw: -300,
  mangle: -150,
  nat: -100,
  filter: 0,
  security: 50,
};

export interface ChainIndex {
  /** Rule positions with an exact destination host, by destination. */
  byDst: Map<AddrValue, number[]>;
  /** Every other rule position, ascending. */
  wild: number[];
}

export interface IptChain {
  name: string;
  builtin: boolean;
  policy: 'ACCEPT' | 'DROP';
  rules: IptRule[];
  /** Copy-on-write: `rules` is shared with the committed table until first change. */
  shared: boolean;
  index?: ChainIndex;
  /** Policy counters. */
  packets: number;
  bytes: number;
}

export interface IptTable {
  name: string;
  chains: Map<string, IptChain>;
}

/** Chains with at least this many rules are indexed by destination address. */
const INDEX_MIN_RULES = 16;

export interface RestoreOptions {
  /** `--noflush`: keep what the tables hold. NodeDataplane text is applied this way. @default false */
  noflush?: boolean;
  /** Name used in errors. @default 'iptables-restore' */
  source?: string;
}

export interface RestoreChecks {
  /** Whether an ipset exists for `-m set` (and its family). */
  ipsetFamily(name: string): IpFamily | undefined;
}

function freshTable(name: string): IptTable {
  const chains = new Map<string, IptChain>();
  for (const h of IPT_TABLES[name]) chains.set(h, newChain(h, true));
  return { name, chains };
}

function newChain(name: string, builtin: boolean): IptChain {
  return { name, builtin, policy: 'ACCEPT', rules: [], shared: false, packets: 0, bytes: 0 };
}

function cloneTable(t: IptTable): IptTable {
  const chains = new Map<string, IptChain>();
  for (const [k, c] of t.chains) chains.set(k, { ...c, shared: true });
  return { name: t.name, chains };
}

function writable(c: IptChain): IptRule[] {
  if (c.shared) {
    c.rules = c.rules.slice();
    c.shared = false;
  }
  c.index = undefined;
  return c.rules;
}

export class IptablesRuleset {
  readonly family: IpFamily;
  readonly tables = new Map<string, IptTable>();
  /** Bumped on every commit, so hook plans can be cached. */
  generation = 0;

  constructor(family: IpFamily) {
    this.family = family;
  }

  table(name: string): IptTable | undefined {
    return this.tables.get(name);
  }

  /** All rules, table by table, chain by chain. */
  *rules(): Generator<IptRule> {
    for (const t of this.tables.values()) for (const c of t.chains.values()) yield* c.rules;
  }

  /** Applies `iptables-restore` input. */
  restore(text: string, options: RestoreOptions = {}, checks?: RestoreChecks): void {
    const source = options.source ?? (this.family === 4 ? 'iptables-restore' : 'ip6tables-restore');
    const noflush = options.noflush ?? false;
    const lines = text.split('\n');
    let cur: { table: IptTable; line: number } | undefined;
    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1;
      const line = lines[i].trim();
      const fail = (msg: string): never => {
        throw new RuleParseError(source, lineNo, msg);
      };
      if (!line || line.startsWith('#')) continue;
      if (!cur) {
        if (!line.startsWith('*')) fail('rule or chain outside a table (expected *TABLE)');
        const name = line.slice(1).trim();
        if (!(name in IPT_TABLES)) fail(`table name '${name}' invalid`);
        const existing = this.tables.get(name);
        cur = { table: noflush && existing ? cloneTable(existing) : freshTable(name), line: lineNo };
        continue;
      }
      if (line === 'COMMIT') {
        this.validate(cur.table, source, checks);
        this.tables.set(cur.table.name, cur.table);
        for (const c of cur.table.chains.values()) c.shared = false;
        this.generation++;
        cur = undefined;
        continue;
      }
      if (line.startsWith('*')) fail(`COMMIT expected before ${line}`);
      if (line.startsWith(':')) {
        this.declare(cur.table, line, noflush, fail);
        continue;
      }
      let words: string[];
      try {
        words = splitWords(line);
      } catch (e) {
        throw new RuleParseError(source, lineNo, (e as Error).message);
      }
      if (words[0]?.startsWith('[')) {
        if (!/^\[\d+:\d+\]$/.test(words[0])) fail(`bad counters "${words[0]}"`);
        words = words.slice(1);
      }
      this.command(cur.table, words, line, source, lineNo, fail);
    }
    if (cur) throw new RuleParseError(source, lines.length, `COMMIT expected for table ${cur.table.name}`);
  }

  private declare(t: IptTable, line: string, noflush: boolean, fail: (m: string) => never): void {
    const m = /^:(\S+)\s+(\S+)(?:\s+\[(\d+):(\d+)\])?$/.exec(line);
    if (!m) fail(`bad chain declaration "${line}"`);
    const [, name, policy] = m!;
    const c = t.chains.get(name);
    if (c?.builtin) {
      if (policy !== 'ACCEPT' && policy !== 'DROP') fail(`bad built-in chain policy "${policy}"`);
      c.policy = policy;
      return;
    }
    checkChainName(name, fail);
    if (c) {
      if (noflush) writable(c).length = 0;
      return;
    }
    t.chains.set(name, newChain(name, false));
  }

  private command(
    t: IptTable,
    words: string[],
    text: string,
    source: string,
    line: number,
    fail: (m: string) => never,
  ): void {
    const [cmd, chainName, ...rest] = words;
    const chainOf = (name: string | undefined): IptChain => {
      if (!name) fail(`${cmd} needs a chain name`);
      const c = t.chains.get(name!);
      if (!c) fail(`chain '${name}' does not exist in table ${t.name}`);
      return c!;
    };
    const parse = (chain: string, ws: string[]) => {
      const rules = parseRuleWords(ws, {
        family: this.family,
        table: t.name,
        chain,
        source,
        line,
        text,
        chainExists: (n) => t.chains.has(n) && !t.chains.get(n)!.builtin,
        fail,
      });
      const c = t.chains.get(chain)!;
      for (const r of rules) {
        if (c.builtin && r.usesIn && (chain === 'OUTPUT' || chain === 'POSTROUTING'))
          fail(`Can't use -i with ${chain}`);
        if (c.builtin && r.usesOut && (chain === 'PREROUTING' || chain === 'INPUT'))
          fail(`Can't use -o with ${chain}`);
      }
      return rules;
    };
    switch (cmd) {
      case '-A':
      case '--append': {
        const c = chainOf(chainName);
        writable(c).push(...parse(c.name, rest));
        return;
      }
      case '-I':
      case '--insert': {
        const c = chainOf(chainName);
        let pos = 1;
        let ws = rest;
        if (rest[0] !== undefined && /^\d+$/.test(rest[0])) {
          pos = Number(rest[0]);
          ws = rest.slice(1);
        }
        if (pos < 1 || pos > c.rules.length + 1) fail(`index of insertion too big`);
        writable(c).splice(pos - 1, 0, ...parse(c.name, ws));
        return;
      }
      case '-R':
      case '--replace': {
        const c = chainOf(chainName);
        const pos = Number(rest[0]);
        if (!/^\d+$/.test(rest[0] ?? '') || pos < 1 || pos > c.rules.length)
          fail('index of replacement too big');
        const rules = parse(c.name, rest.slice(1));
        if (rules.length !== 1) fail('-R accepts only one source and destination');
        writable(c)[pos - 1] = rules[0];
        return;
      }
      case '-D':
      case '--delete': {
        const c = chainOf(chainName);
        if (rest.length === 1 && /^\d+$/.test(rest[0])) {
          const pos = Number(rest[0]);
          if (pos < 1 || pos > c.rules.length) fail('index of deletion too big');
          writable(c).splice(pos - 1, 1);
          return;
        }
        const want = normalizeRule(rest);
        const at = c.rules.findIndex((r) => normalizeRule(splitWords(r.text).slice(2)) === want);
        if (at < 0) fail(`Bad rule (does a matching rule exist in that chain?)`);
        writable(c).splice(at, 1);
        return;
      }
      case '-N':
      case '--new-chain': {
        if (!chainName) fail('-N needs a chain name');
        checkChainName(chainName, fail);
        if (t.chains.has(chainName)) fail(`Chain already exists`);
        t.chains.set(chainName, newChain(chainName, false));
        return;
      }
      case '-X':
      case '--delete-chain': {
        const victims = chainName ? [chainOf(chainName)] : [...t.chains.values()].filter((c) => !c.builtin);
        for (const v of victims) {
          if (v.builtin) fail(`can't delete built-in chain ${v.name}`);
          if (v.rules.length > 0) fail(`CHAIN_DEL failed (Device or resource busy): chain ${v.name}`);
        }
        const names = new Set(victims.map((v) => v.name));
        for (const c of t.chains.values()) {
          if (names.has(c.name)) continue;
          for (const r of c.rules) {
            if (r.target.kind === 'jump' && names.has(r.target.chain)) {
              fail(`CHAIN_DEL failed (Device or resource busy): chain ${r.target.chain}`);
            }
          }
        }
        for (const n of names) t.chains.delete(n);
        return;
      }
      case '-F':
      case '--flush': {
        const cs = chainName ? [chainOf(chainName)] : [...t.chains.values()];
        for (const c of cs) writable(c).length = 0;
        return;
      }
      case '-Z':
      case '--zero': {
        const cs = chainName ? [chainOf(chainName)] : [...t.chains.values()];
        for (const c of cs) {
          c.packets = 0;
          c.bytes = 0;
          for (const r of c.rules) {
            r.packets = 0;
            r.bytes = 0;
          }
        }
        return;
      }
      case '-P':
      case '--policy': {
        const c = chainOf(chainName);
        if (!c.builtin) fail(`-P: chain ${c.name} is not a built-in chain`);
        if (rest[0] !== 'ACCEPT' && rest[0] !== 'DROP') fail(`bad policy "${rest[0]}"`);
        c.policy = rest[0];
        return;
      }
      case '-E':
      case '--rename-chain': {
        const c = chainOf(chainName);
        const to = rest[0];
        if (!to) fail('-E needs a new name');
        checkChainName(to, fail);
        if (c.builtin) fail(`can't rename built-in chain ${c.name}`);
        if (t.chains.has(to)) fail('Chain already exists');
        t.chains.delete(c.name);
        c.name = to;
        t.chains.set(to, c);
        for (const o of t.chains.values()) {
          if (o.rules.some((r) => r.target.kind === 'jump' && r.target.chain === chainName)) {
            const rs = writable(o);
            for (let k = 0; k < rs.length; k++) {
              const tg = rs[k].target;
              if (tg.kind === 'jump' && tg.chain === chainName)
                rs[k] = { ...rs[k], target: { ...tg, chain: to } };
            }
          }
          for (const r of o.rules) if (r.chain === chainName) r.chain = to;
        }
        return;
      }
      default:
        fail(`unknown command "${cmd}"`);
    }
  }

  /** The kernel's checks when a table is committed. */
  private validate(t: IptTable, source: string, checks?: RestoreChecks): void {
    // Which built-in hooks reach each chain; loops are refused (ELOOP).
    const reach = new Map<string, Set<HookName>>();
    const visiting = new Set<string>();
    const walk = (name: string, hook: HookName, path: string[]) => {
      if (visiting.has(name)) {
        const c = t.chains.get(path[path.length - 1])!;
        const r = c.rules.find((x) => x.target.kind === 'jump' && x.target.chain === name)!;
        throw new RuleParseError(
          source,
          r.line,
          `RULE_APPEND failed (Too many links): loop ${[...path, name].join(' -> ')}`,
        );
      }
      let set = reach.get(name);
      if (!set) reach.set(name, (set = new Set()));
      if (set.has(hook) && path.length > 0) return;
      set.add(hook);
      visiting.add(name);
      for (const r of t.chains.get(name)!.rules) {
        if (r.target.kind === 'jump') walk(r.target.chain, hook, [...path, name]);
      }
      visiting.delete(name);
    };
    for (const h of IPT_TABLES[t.name]) if (t.chains.has(h)) walk(h, h, []);
    // (A loop among chains no built-in chain reaches is accepted, as by the kernel.)
    for (const c of t.chains.values()) {
      const hooks = reach.get(c.name);
      for (const r of c.rules) {
        if (r.scope) {
          if (!r.scope.tables.includes(t.name)) {
            throw new RuleParseError(
              source,
              r.line,
              `RULE_APPEND failed (Invalid argument): rule in chain ${c.name}: target not valid in table ${t.name}`,
            );
          }
          for (const h of hooks ?? []) {
            if (!r.scope.hooks.includes(h)) {
              throw new RuleParseError(
                source,
                r.line,
                `RULE_APPEND failed (Invalid argument): rule in chain ${c.name}: target not valid from hook ${h}`,
              );
            }
          }
        }
        if (checks) {
          for (const s of r.setNames) {
            const f = checks.ipsetFamily(s);
            if (f === undefined) throw new RuleParseError(source, r.line, `Set ${s} doesn't exist.`);
            if (f !== this.family)
              throw new RuleParseError(
                source,
                r.line,
                `The protocol family of set ${s} is not IPv${this.family}`,
              );
          }
        }
      }
    }
  }

  /** The rule positions of a chain worth trying for a destination, ascending. */
  static index(c: IptChain): ChainIndex | undefined {
    if (c.rules.length < INDEX_MIN_RULES) return undefined;
    if (c.index) return c.index;
    const byDst = new Map<AddrValue, number[]>();
    const wild: number[] = [];
    c.rules.forEach((r, i) => {
      if (r.dstHost === undefined) wild.push(i);
      else {
        let l = byDst.get(r.dstHost);
        if (!l) byDst.set(r.dstHost, (l = []));
        l.push(i);
      }
    });
    c.index = { byDst, wild };
    return c.index;
  }
}

function checkChainName(name: string, fail: (m: string) => never): void {
  if (name.length > 28) fail(`chain name \`${name}' too long (must be under 29 chars)`);
  if (name.startsWith('-') || name.startsWith('!')) fail(`Invalid chain name \`${name}'`);
  if (['ACCEPT', 'DROP', 'RETURN', 'QUEUE'].includes(name)) fail(`Invalid chain name \`${name}'`);
}

/** A rule spec reduced to a comparable form for `-D CHAIN <rule>`. */
function normalizeRule(words: string[]): string {
  return words.join(' ');
}
