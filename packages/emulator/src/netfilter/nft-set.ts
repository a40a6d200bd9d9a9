/** nftables named sets and maps: typed keys (concatenations), intervals, timeouts, verdict data. */
import { inRange, isSingle, type NftDtype, type Range, type Scalar } from './nft-values.js';
import type { RejectSpec } from './types.js';

export type NftVerdict =
  | { kind: 'accept' }
  | { kind: 'drop' }
  | { kind: 'continue' }
  | { kind: 'return' }
  | { kind: 'jump'; chain: string }
  | { kind: 'goto'; chain: string }
  | { kind: 'reject'; reject: RejectSpec };

export function verdictText(v: NftVerdict): string {
  if (v.kind === 'jump' || v.kind === 'goto') return `${v.kind} ${v.chain}`;
  if (v.kind === 'reject') return `reject with ${v.reject.name}`;
  return v.kind;
}

/** Map data: a verdict, or values (`ipv4_addr . inet_service`). */
export type NftData = { verdict: NftVerdict } | { values: Scalar[] };

export interface NftElement {
  key: Range[];
  data?: NftData;
  /** Virtual-clock second at which it expires. */
  expires?: number;
  comment?: string;
  packets: number;
  bytes: number;
}

export interface NftSetDef {
  name: string;
  isMap: boolean;
  keyTypes: NftDtype[];
  /** Map data: 'verdict' or value types. */
  dataTypes?: NftDtype[] | 'verdict';
  flags: Set<string>;
  /** Default element timeout, seconds. */
  timeout?: number;
  comment?: string;
  /** The declaration as written, for errors. */
  line: number;
}

export function keyOf(values: readonly Scalar[]): string {
  if (values.length === 1) return String(values[0]);
  let s = String(values[0]);
  for (let i = 1; i < values.length; i++) s += `|${String(values[i])}`;
  return s;
}

export class NftSet {
  readonly def: NftSetDef;
  /** Elements whose every key part is a single value, by key. */
  private exact = new Map<string, NftElement>();
  /** Elements with a prefix/range/wildcard part (interval sets). */
  private ranged: NftElement[] = [];
  /** Copy-on-write during a transaction. */
  shared = false;
  handle = 0;

  constructor(def: NftSetDef) {
    this.def = def;
  }

  clone(): NftSet {
    const c = new NftSet(this.def);
    c.exact = this.exact;
    c.ranged = this.ranged;
    c.shared = true;
    c.handle = this.handle;
    return c;
  }

  private own(): void {
    if (!this.shared) return;
    this.exact = new Map(this.exact);
    this.ranged = this.ranged.slice();
    this.shared = false;
  }

  get size(): number {
    return this.exact.size + this.ranged.length;
  }

  elements(): NftElement[] {
    return [...this.exact.values(), ...this.ranged];
  }

  private find(key: Range[]): { el: NftElement; exactKey?: string; idx?: number } | undefined {
    if (key.every(isSingle)) {
      const k = keyOf(key.map((r) => r.lo));
      const el = this.exact.get(k);
      if (el) return { el, exactKey: k };
    }
    const idx = this.ranged.findIndex((e) => sameKey(e.key, key));
    return idx < 0 ? undefined : { el: this.ranged[idx], idx };
  }

  /** Adds an element; returns false when it already exists (create semantics). */
  add(el: NftElement): boolean {
    const cur = this.find(el.key);
    if (cur) {
      return false;
    }
    this.own();
    if (el.key.every(isSingle)) this.exact.set(keyOf(el.key.map((r) => r.lo)), el);
    else this.ranged.push(el);
    return true;
  }

  /** Replaces or adds (element refresh from `update @set`). */
  upsert(el: NftElement): NftElement | undefined {
    const cur = this.find(el.key);
    this.own();
    if (cur?.exactKey !== undefined) this.exact.set(cur.exactKey, el);
    else if (cur?.idx !== undefined) this.ranged[cur.idx] = el;
    else if (el.key.every(isSingle)) this.exact.set(keyOf(el.key.map((r) => r.lo)), el);
    else this.ranged.push(el);
    return cur?.el;
  }

  remove(key: Range[]): NftElement | undefined {
    const cur = this.find(key);
    if (!cur) return undefined;
    this.own();
    if (cur.exactKey !== undefined) this.exact.delete(cur.exactKey);
    else this.ranged.splice(cur.idx!, 1);
    return cur.el;
  }

  flush(): void {
    this.exact = new Map();
    this.ranged = [];
    this.shared = false;
  }

  /** The element a packet's key values fall into (live ones only). */
  lookup(values: readonly Scalar[], now: number): NftElement | undefined {
    if (this.exact.size > 0) {
      const el = this.exact.get(keyOf(values));
      if (el && (el.expires === undefined || el.expires > now)) return el;
    }
    for (const el of this.ranged) {
      if (el.expires !== undefined && el.expires <= now) continue;
      let ok = true;
      for (let i = 0; i < el.key.length; i++) {
        if (!inRange(el.key[i], values[i])) {
          ok = false;
          break;
        }
      }
      if (ok) return el;
    }
    return undefined;
  }
}

function sameKey(a: Range[], b: Range[]): boolean {
  return (
    a.length === b.length &&
    a.every((r, i) => r.lo === b[i].lo && r.hi === b[i].hi && !!r.wildcard === !!b[i].wildcard)
  );
}
