/**
 * Test support (not exported): ports of kube-proxy's iptables test helpers (pkg/proxy/iptables
 * proxier_test.go, pkg/util/iptables/testing) that parse restore input and normalise rule order,
 * and a strict model of the tables iptables-restore leaves. The test world itself is
 * @podnet/core/testing's fake-proxier world.
 */

interface DumpChain {
  name: string;
  rules: string[];
  deleted: boolean;
}
interface DumpTable {
  name: string;
  chains: DumpChain[];
}

/** kube-proxy's iptablestest.ParseIPTablesDump (strict about undeclared chains). */
export function parseIptablesDump(text: string): DumpTable[] {
  const tables: DumpTable[] = [];
  let table: DumpTable | undefined;
  let declaring = false;
  for (const raw of text.trim().split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!table) {
      if (!line.startsWith('*')) throw new Error(`expected a table, got ${line}`);
      table = { name: line.slice(1), chains: [] };
      tables.push(table);
      declaring = true;
      continue;
    }
    const decl = /^:(\S+) - \[\d+:\d+\]$/.exec(line);
    if (declaring && decl) {
      table.chains.push({ name: decl[1], rules: [], deleted: false });
      continue;
    }
    declaring = false;
    const chainOf = (name: string) => {
      const c = table?.chains.find((x) => x.name === name);
      if (!c) throw new Error(`rule for undeclared chain ${name}: ${line}`);
      return c;
    };
    const add = /^-A (\S+) /.exec(line);
    const del = /^-X (\S+)$/.exec(line);
    if (add) chainOf(add[1]).rules.push(line);
    else if (del) chainOf(del[1]).deleted = true;
    else if (line === 'COMMIT') table = undefined;
    else throw new Error(`cannot parse ${line}`);
  }
  if (table) throw new Error('no COMMIT line');
  return tables;
}

function dumpString(tables: DumpTable[]): string {
  const out: string[] = [];
  for (const t of tables) {
    out.push(`*${t.name}`);
    for (const c of t.chains) out.push(`:${c.name} - [0:0]`);
    for (const c of t.chains) out.push(...c.rules);
    for (const c of t.chains) if (c.deleted) out.push(`-X ${c.name}`);
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

function commentOf(rule: string): string | undefined {
  const m = /--comment ("[^"]*"|\S+)/.exec(rule);
  return m ? m[1].replace(/"/g, '') : undefined;
}

function serviceNameOfComment(comment: string): string {
  const i = comment.search(/[ :]/);
  return i === -1 ? comment : comment.slice(0, i);
}

function byServiceName(a: string, b: string): number {
  const ca = commentOf(a);
  const cb = commentOf(b);
  if (ca === undefined || cb === undefined) return 0;
  const x = serviceNameOfComment(ca);
  const y = serviceNameOfComment(cb);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** kube-proxy's sortIPTablesRules (proxier_test.go): the order normalisation its goldens assume. */
export function sortIptablesRules(text: string): string {
  const tables = parseIptablesDump(text);
  tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rank = (n: string) =>
    n === 'KUBE-NODEPORTS' ? 0 : n === 'KUBE-SERVICES' ? 1 : n.startsWith('KUBE-') ? 2 : 3;
  for (const t of tables) {
    t.chains.sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of t.chains) {
      if (c.name === 'KUBE-NODEPORTS' || (c.name === 'KUBE-SERVICES' && t.name === 'filter'))
        c.rules.sort(byServiceName);
      if (c.name === 'KUBE-SERVICES' && t.name === 'nat') {
        const last = (r: string) => commentOf(r)?.includes('must be the last rule') === true;
        c.rules.sort((a, b) => (last(a) ? (last(b) ? 0 : 1) : last(b) ? -1 : byServiceName(a, b)));
      }
    }
  }
  return dumpString(tables);
}

/** The restore data kube-proxy itself feeds to iptables-restore (without podnet's EnsureRule block). */
export function restoreData(text: string, marker: string): string {
  const i = text.indexOf(marker);
  return i === -1 ? text : text.slice(0, i);
}

/** Rules of one chain of one table, in order. */
export function chainRules(text: string, table: string, chain: string): string[] {
  const t = parseIptablesDump(restoreData(text, '# podnet:')).find((x) => x.name === table);
  return t?.chains.find((c) => c.name === chain)?.rules ?? [];
}

const BUILTIN_CHAINS = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);
const TARGETS = new Set(['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'MARK', 'DNAT', 'SNAT', 'MASQUERADE']);

/**
 * The kernel's tables after `iptables-restore --noflush` of each text in turn, refusing what
 * iptables-restore refuses (rules for or jumps to missing chains, deleting a referenced chain).
 * Returns table → chain → rules, with kube-proxy's chains sorted for comparison.
 */
export function applyRestore(texts: string[]): Map<string, Map<string, string[]>> {
  const tables = new Map<string, Map<string, string[]>>();
  for (const text of texts) {
    let chains: Map<string, string[]> | undefined;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      if (line.startsWith('*')) {
        const name = line.slice(1);
        if (!tables.has(name)) tables.set(name, new Map([...BUILTIN_CHAINS].map((c) => [c, []])));
        chains = tables.get(name);
        continue;
      }
      if (!chains) throw new Error(`line outside a table: ${line}`);
      if (line === 'COMMIT') {
        chains = undefined;
        continue;
      }
      const decl = /^:(\S+) - \[0:0\]$/.exec(line);
      if (decl) {
        chains.set(decl[1], []);
        continue;
      }
      const m = /^-([AIX]) (\S+)(.*)$/.exec(line);
      if (!m) throw new Error(`cannot parse ${line}`);
      const [, op, chain, rest] = m;
      const rules = chains.get(chain);
      if (!rules) throw new Error(`no chain ${chain}: ${line}`);
      if (op === 'X') {
        for (const [name, list] of chains) {
          if (list.some((r) => ` ${r} `.includes(` -j ${chain} `))) {
            throw new Error(`chain ${chain} is referenced from ${name}`);
          }
        }
        chains.delete(chain);
        continue;
      }
      const target = /-j (\S+)/.exec(rest)?.[1];
      if (target && !TARGETS.has(target) && !chains.has(target))
        throw new Error(`jump to missing chain ${target}: ${line}`);
      if (op === 'A') rules.push(rest.trim());
      else rules.unshift(rest.trim());
    }
    if (chains) throw new Error('no COMMIT');
  }
  return tables;
}

/** A readable, order-normalised rendering of applyRestore's result. */
export function tablesText(tables: Map<string, Map<string, string[]>>): string {
  const out: string[] = [];
  for (const t of [...tables.keys()].sort()) {
    out.push(`*${t}`);
    const chains = tables.get(t) as Map<string, string[]>;
    for (const c of [...chains.keys()].sort()) {
      out.push(`:${c}`);
      for (const r of chains.get(c) as string[]) out.push(`  ${r}`);
    }
  }
  return out.join('\n');
}
