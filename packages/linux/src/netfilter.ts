/**
 * Rule texts in a node's namespace, exactly as the plugins render them: `iptables-restore
 * --noflush` / `ip6tables-restore --noflush`, `nft -f`, `ipvsadm -R`, `ipset restore`.
 *
 * Re-applying iptables text is not idempotent by itself: a `:CHAIN` declaration flushes a user
 * chain, but rules appended (`-A`) or inserted (`-I`) into a built-in chain (POSTROUTING, FORWARD,
 * ...) would be added a second time. The node's namespace belongs to podnet alone, so before the
 * text the backend flushes every built-in chain the previous or the new text writes to (inside the
 * same table transaction, so there is no moment without the rules), and afterwards deletes the
 * user chains the previous text declared and the new one does not. The nft text is applied in one
 * transaction preceded by `add table` + `delete table` of every table the previous or new text
 * names, so the result is exactly the new text. A text is (re)applied when it differs from the
 * last applied one or when the kernel's rules differ from what that text left (drift).
 */
import { createHash } from 'node:crypto';
import type { FlatNetfilter } from './flatten.js';
import { run } from './run.js';

const BUILTIN: Record<string, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

interface TableUse {
  /** User chains declared with `:CHAIN`. */
  declared: Set<string>;
  /** Built-in chains the text adds rules to. */
  builtin: Set<string>;
}

/** Which tables, user chains and built-in chains an iptables-restore text touches. */
export function analyzeIptables(text: string): Map<string, TableUse> {
  const tables = new Map<string, TableUse>();
  let cur: TableUse | undefined;
  let name = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      name = line.slice(1);
      cur = tables.get(name) ?? { declared: new Set(), builtin: new Set() };
      tables.set(name, cur);
      continue;
    }
    if (!cur) continue;
    const builtins = BUILTIN[name] ?? [];
    const decl = /^:(\S+)/.exec(line);
    if (decl && !builtins.includes(decl[1])) cur.declared.add(decl[1]);
    const rule = /^-(?:A|I|R)\s+(\S+)/.exec(line);
    if (rule && builtins.includes(rule[1])) cur.builtin.add(rule[1]);
  }
  return tables;
}

/**
 * The restore input that turns the rules `previous` left into exactly those of `next`: flushes of
 * the built-in chains either text uses, `next` itself, and deletion of user chains only
 * `previous` declared.
 */
export function iptablesApplyText(next: string, previous: string): string {
  const n = analyzeIptables(next);
  const p = analyzeIptables(previous);
  const flushes = new Map<string, string[]>();
  for (const [table, use] of [...p, ...n]) {
    const list = flushes.get(table) ?? [];
    for (const c of use.builtin) if (!list.includes(c)) list.push(c);
    flushes.set(table, list);
  }
  const out: string[] = [];
  const injected = new Set<string>();
  for (const [table, chains] of flushes) {
    if (!n.has(table) && chains.length > 0) out.push(`*${table}`, ...chains.map((c) => `-F ${c}`), 'COMMIT');
  }
  for (const raw of next === '' ? [] : next.replace(/\n+$/, '').split('\n')) {
    out.push(raw);
    const line = raw.trim();
    if (line.startsWith('*') && !injected.has(line.slice(1))) {
      const table = line.slice(1);
      injected.add(table);
      for (const c of flushes.get(table) ?? []) out.push(`-F ${c}`);
    }
  }
  for (const [table, use] of p) {
    const stale = [...use.declared].filter((c) => !n.get(table)?.declared.has(c));
    if (stale.length > 0)
      out.push(`*${table}`, ...stale.map((c) => `:${c} - [0:0]`), ...stale.map((c) => `-X ${c}`), 'COMMIT');
  }
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}

const NFT_TABLE =
  /^\s*(?:add\s+|create\s+|flush\s+|delete\s+)?table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?([A-Za-z0-9_.-]+)/;

/** `family name` of every table an nft text names. */
export function nftTables(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = NFT_TABLE.exec(line);
    if (m) {
      const t = `${m[1] ?? 'ip'} ${m[2]}`;
      if (!out.includes(t)) out.push(t);
    }
  }
  return out;
}

/** One transaction: the tables either text names are emptied (created first so delete cannot fail), then `next`. */
export function nftApplyText(next: string, previous: string): string {
  const tables = [...new Set([...nftTables(previous), ...nftTables(next)])];
  const reset = tables.flatMap((t) => [`add table ${t}`, `delete table ${t}`]);
  return `${[...reset, next].join('\n')}\n`;
}

const IPSET_CREATE = /^\s*(?:create|-N|-exist\s+create)\s+(\S+)/;

export function ipsetNames(text: string): string[] {
  return text
    .split('\n')
    .map((l) => IPSET_CREATE.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

const inNs = (ns: string, argv: string[]) => ['ip', 'netns', 'exec', ns, ...argv];

async function iptablesFingerprint(ns: string, family: 4 | 6): Promise<string> {
  const r = await run(inNs(ns, [family === 4 ? 'iptables-save' : 'ip6tables-save']));
  const text = r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
  return hash(text);
}

async function nftFingerprint(ns: string, text: string): Promise<string> {
  const parts: string[] = [];
  for (const t of nftTables(text)) {
    const r = await run(inNs(ns, ['nft', 'list', 'table', ...t.split(' ')]), { allowFailure: true });
    parts.push(r.code === 0 ? r.stdout.replace(/counter packets \d+ bytes \d+/g, 'counter') : `missing ${t}`);
  }
  return hash(parts.join('\n'));
}

async function ipvsFingerprint(ns: string): Promise<string> {
  return hash((await run(inNs(ns, ['ipvsadm', '-S', '-n']))).stdout);
}

/** What was applied in one namespace, and what the kernel held afterwards. */
export interface AppliedRules {
  ipv4: string;
  ipv6: string;
  nftables: string;
  ipvs: string;
  ipset: string;
  fingerprints: { ipv4?: string; ipv6?: string; nftables?: string; ipvs?: string };
}

export const NO_RULES: AppliedRules = {
  ipv4: '',
  ipv6: '',
  nftables: '',
  ipvs: '',
  ipset: '',
  fingerprints: {},
};

/**
 * Brings one namespace's rules from `previous` to `next`; returns what to remember, and the
 * parts that were (re)written (empty when nothing changed).
 */
export async function applyRules(
  ns: string,
  next: FlatNetfilter | undefined,
  previous: AppliedRules,
): Promise<{ applied: AppliedRules; changed: string[] }> {
  const want = {
    ipv4: next?.iptables.ipv4 ?? '',
    ipv6: next?.iptables.ipv6 ?? '',
    nftables: next?.nftables ?? '',
    ipvs: next?.ipvs ?? '',
    ipset: next?.ipset ?? '',
  };
  const fp: AppliedRules['fingerprints'] = {};
  const changed: string[] = [];

  if (want.ipset) await run(inNs(ns, ['ipset', 'restore', '-exist']), { input: want.ipset });
  if (want.ipset !== previous.ipset && want.ipset) changed.push('ipset');

  for (const family of [4, 6] as const) {
    const key = family === 4 ? 'ipv4' : 'ipv6';
    if (!want[key] && !previous[key]) continue;
    const same = want[key] === previous[key] && previous.fingerprints[key] !== undefined;
    if (same && (await iptablesFingerprint(ns, family)) === previous.fingerprints[key]) {
      fp[key] = previous.fingerprints[key];
      continue;
    }
    const tool = family === 4 ? 'iptables-restore' : 'ip6tables-restore';
    await run(inNs(ns, [tool, '--noflush']), { input: iptablesApplyText(want[key], previous[key]) });
    changed.push(`iptables ipv${family}`);
    if (want[key]) fp[key] = await iptablesFingerprint(ns, family);
  }

  if (want.nftables || previous.nftables) {
    const same = want.nftables === previous.nftables && previous.fingerprints.nftables !== undefined;
    if (same && (await nftFingerprint(ns, want.nftables)) === previous.fingerprints.nftables) {
      fp.nftables = previous.fingerprints.nftables;
    } else {
      await run(inNs(ns, ['nft', '-f', '-']), { input: nftApplyText(want.nftables, previous.nftables) });
      changed.push('nftables');
      if (want.nftables) fp.nftables = await nftFingerprint(ns, want.nftables);
    }
  }

  if (want.ipvs || previous.ipvs) {
    const same = want.ipvs === previous.ipvs && previous.fingerprints.ipvs !== undefined;
    if (same && (await ipvsFingerprint(ns)) === previous.fingerprints.ipvs) {
      fp.ipvs = previous.fingerprints.ipvs;
    } else {
      await run(inNs(ns, ['ipvsadm', '-C']));
      if (want.ipvs) await run(inNs(ns, ['ipvsadm', '-R']), { input: want.ipvs });
      changed.push('ipvs');
      if (want.ipvs) fp.ipvs = await ipvsFingerprint(ns);
    }
  }

  const staleSets = ipsetNames(previous.ipset).filter((s) => !ipsetNames(want.ipset).includes(s));
  for (const s of staleSets) await run(inNs(ns, ['ipset', 'destroy', s]), { allowFailure: true });
  if (staleSets.length > 0 && !changed.includes('ipset')) changed.push('ipset');

  return { applied: { ...want, fingerprints: fp }, changed };
}
