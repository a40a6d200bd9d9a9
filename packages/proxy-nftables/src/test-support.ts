/**
 * Test support (not exported): a strict in-memory model of the kube-proxy table that applies a
 * transaction the way the kernel would (knftables.Fake's role), and the upstream order
 * normalisation of pkg/proxy/nftables helpers_test.go. The test world itself is
 * @podnet/core/testing's fake-proxier world.
 */

/** objectOrder of kube-proxy's helpers_test.go (higher sorts first). */
const OBJECT_ORDER: Record<string, number> = { table: 10, chain: 9, rule: 8, set: 7, map: 6, element: 5 };

/** kube-proxy's sortNFTablesTransaction (helpers_test.go). */
export function sortNftablesTransaction(tx: string): string {
  const lines = tx.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const words = new Map(lines.map((l) => [l, l.split(' ')]));
  return lines
    .map((line, index) => ({ line, index }))
    .sort((a, b) => {
      const wi = words.get(a.line) as string[];
      const wj = words.get(b.line) as string[];
      if (wi.length < 5 || wj.length < 5) return a.index - b.index;
      if (wi[1] !== wj[1]) return (OBJECT_ORDER[wj[1]] ?? 0) - (OBJECT_ORDER[wi[1]] ?? 0);
      if (wi[4] !== wj[4]) return wi[4] < wj[4] ? -1 : 1;
      if (wi[1] === 'rule') return a.index - b.index;
      return a.line < b.line ? -1 : a.line > b.line ? 1 : a.index - b.index;
    })
    .map((x) => x.line)
    .join('\n');
}

interface FakeChain {
  spec: string;
  rules: string[];
}
interface FakeContainer {
  type: 'set' | 'map';
  spec: string;
  elements: Map<string, { value: string; comment?: string }>;
}
interface FakeTable {
  comment: string;
  chains: Map<string, FakeChain>;
  containers: Map<string, FakeContainer>;
}

const LINE = /^(add|flush|delete) (table|chain|rule|set|map|element) (ip6?) kube-proxy(.*)$/;

/**
 * The kube-proxy tables after applying transactions, refusing what nft would refuse: objects used
 * before they exist, flushing or deleting what is not there, deleting what is still referenced.
 * `add element` of an existing key keeps the old value, as the kernel does.
 */
export class NftFake {
  readonly tables = new Map<string, FakeTable>();
  /** Operations in the last applied transaction (knftables' LastTransaction.NumOperations()). */
  lastOperations = 0;

  apply(text: string): void {
    const lines = text.split('\n').filter((l) => l !== '');
    for (const line of lines) this.op(line);
    this.lastOperations = lines.length;
  }

  private op(line: string): void {
    const m = LINE.exec(line);
    if (!m) throw new Error(`cannot parse: ${line}`);
    const [, verb, type, family, rest] = m;
    if (type === 'table') {
      if (verb !== 'add') throw new Error(`unsupported: ${line}`);
      if (!this.tables.has(family))
        this.tables.set(family, { comment: rest, chains: new Map(), containers: new Map() });
      return;
    }
    const t = this.tables.get(family);
    if (!t) throw new Error(`no table ${family} kube-proxy: ${line}`);
    const name = rest.trim().split(' ')[0];
    const spec = rest.trim().slice(name.length);
    const fail = (why: string) => {
      throw new Error(`${why}: ${line}`);
    };
    if (type === 'chain') {
      const c = t.chains.get(name);
      if (verb === 'add') {
        if (!c) t.chains.set(name, { spec, rules: [] });
      } else if (!c) fail('no such chain');
      else if (verb === 'flush') c.rules = [];
      else {
        if (this.referencesChain(t, name)) fail('chain is still referenced');
        t.chains.delete(name);
      }
      return;
    }
    if (type === 'rule') {
      const c = t.chains.get(name) ?? fail('rule for missing chain');
      const body = spec.trim();
      for (const [, target] of body.matchAll(/(?:jump|goto) (\S+)/g))
        if (!t.chains.has(target)) fail(`jump to missing chain ${target}`);
      for (const [, set] of body.matchAll(/@(\S+)/g)) if (!t.containers.has(set)) fail(`missing set ${set}`);
      c.rules.push(body);
      return;
    }
    if (type === 'set' || type === 'map') {
      const c = t.containers.get(name);
      if (verb === 'add') {
        if (!c) t.containers.set(name, { type, spec, elements: new Map() });
      } else if (!c || c.type !== type) fail(`no such ${type}`);
      else if (verb === 'flush') c.elements.clear();
      else {
        const used = [...t.chains.values()].some((ch) =>
          ch.rules.some((r) => r.includes(`@${name} `) || r.endsWith(`@${name}`)),
        );
        if (used) fail(`${type} is still referenced`);
        t.containers.delete(name);
      }
      return;
    }
    const c = t.containers.get(name) ?? fail('element of missing set/map');
    const em = /^ \{ (.*?)(?: comment ("[^"]*"))?(?: : (.*))? \}$/.exec(spec) ?? fail('bad element');
    const [, key, comment, value = ''] = em;
    if (verb === 'add') {
      for (const [, target] of value.matchAll(/goto (\S+)/g))
        if (!t.chains.has(target)) fail(`goto missing chain ${target}`);
      if (!c.elements.has(key))
        c.elements.set(key, { value, comment: comment === undefined ? undefined : JSON.parse(comment) });
    } else if (!c.elements.delete(key)) fail('no such element');
  }

  private referencesChain(t: FakeTable, chain: string): boolean {
    const escaped = chain.replace(/[.*+?^$()|[\]\\/{}]/g, (c) => `\\${c}`);
    const word = new RegExp(`(?:jump|goto) ${escaped}(?: |$)`);
    for (const c of t.chains.values()) if (c.rules.some((r) => word.test(r))) return true;
    for (const s of t.containers.values())
      for (const e of s.elements.values()) if (word.test(e.value)) return true;
    return false;
  }

  /** Every object as an `add` line, like knftables.Fake.Dump(). */
  dump(): string {
    const out: string[] = [];
    for (const [family, t] of this.tables) {
      const p = (type: string) => `add ${type} ${family} kube-proxy`;
      out.push(`${p('table')}${t.comment}`);
      for (const [name, c] of t.chains) out.push(`${p('chain')} ${name}${c.spec}`);
      for (const [name, c] of t.chains) for (const r of c.rules) out.push(`${p('rule')} ${name} ${r}`);
      for (const [name, s] of t.containers) out.push(`${p(s.type)} ${name}${s.spec}`);
      for (const [name, s] of t.containers) {
        for (const [key, e] of s.elements) {
          const comment = e.comment === undefined ? '' : ` comment ${JSON.stringify(e.comment)}`;
          out.push(`${p('element')} ${name} { ${key}${comment}${e.value ? ` : ${e.value}` : ''} }`);
        }
      }
    }
    return out.join('\n');
  }

  chainRules(chain: string, family = 'ip'): string[] {
    return this.tables.get(family)?.chains.get(chain)?.rules ?? [];
  }

  element(container: string, key: string, family = 'ip'): string | undefined {
    return this.tables.get(family)?.containers.get(container)?.elements.get(key)?.value;
  }

  has(type: 'chain' | 'set' | 'map', name: string, family = 'ip'): boolean {
    const t = this.tables.get(family);
    return type === 'chain' ? t?.chains.has(name) === true : t?.containers.get(name)?.type === type;
  }
}
