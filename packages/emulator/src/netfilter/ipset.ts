/**
 * ipset: named sets the `-m set --match-set` match looks packets up in, loaded from
 * `ipset restore` text (what kube-proxy's IPVS mode writes: hash:ip,port, hash:ip,port,ip,
 * hash:ip,port,net, hash:net, bitmap:port, ...).
 */
import { RuleParseError } from '@podnet/core';
import { type Prefix, parsePrefix, prefixContains } from './addr-match.js';
import type { ClockView } from '../hooks.js';
import { addrValue, hasPorts, type IpFamily, type NfPacket, protoNumber } from './packet.js';
import { splitWords } from './words.js';

export type IpsetDim = 'ip' | 'net' | 'port';

export interface IpsetDef {
  name: string;
  type: string;
  dims: IpsetDim[];
  family: IpFamily;
  /** Default element timeout in seconds (0 = none). */
  timeout: number;
  /** bitmap:port / bitmap:ip range. */
  range?: { min: number; max: number } | { prefix: Prefix };
  comment: boolean;
  counters: boolean;
}

interface Element {
  parts: ElemPart[];
  text: string;
  expires?: number;
  nomatch: boolean;
  comment?: string;
  packets: number;
  bytes: number;
}

type ElemPart = { kind: 'ip'; prefix: Prefix } | { kind: 'port'; proto: number; port: number };

const TYPES: Record<string, IpsetDim[]> = {
  'hash:ip': ['ip'],
  'hash:net': ['net'],
  'hash:ip,port': ['ip', 'port'],
  'hash:net,port': ['net', 'port'],
  'hash:ip,port,ip': ['ip', 'port', 'ip'],
  'hash:ip,port,net': ['ip', 'port', 'net'],
  'bitmap:port': ['port'],
  'bitmap:ip': ['ip'],
  'list:set': [],
};

export class Ipset {
  readonly def: IpsetDef;
  /** Exact elements by key; net dimensions keep prefixes in `nets`. */
  private readonly exact = new Map<string, Element>();
  private readonly nets: Element[] = [];
  /** list:set members. */
  readonly members: string[] = [];

  constructor(def: IpsetDef) {
    this.def = def;
  }

  get hasNets(): boolean {
    return this.def.dims.includes('net');
  }

  elements(now: number): Element[] {
    return [...this.exact.values(), ...this.nets].filter((e) => e.expires === undefined || e.expires > now);
  }

  add(e: Element, exist: boolean): 'added' | 'exists' {
    const key = elemKey(e.parts);
    const cur = this.exact.get(key) ?? this.nets.find((n) => elemKey(n.parts) === key);
    if (cur) {
      if (!exist) return 'exists';
      Object.assign(cur, e);
      return 'added';
    }
    if (this.hasNets) this.nets.push(e);
    else this.exact.set(key, e);
    return 'added';
  }

  del(parts: ElemPart[]): boolean {
    const key = elemKey(parts);
    if (this.exact.delete(key)) return true;
    const i = this.nets.findIndex((n) => elemKey(n.parts) === key);
    if (i < 0) return false;
    this.nets.splice(i, 1);
    return true;
  }

  flush(): void {
    this.exact.clear();
    this.nets.length = 0;
    this.members.length = 0;
  }

  /** Looks a packet up with per-dimension directions (`src`/`dst`). */
  test(p: NfPacket, dirs: ('src' | 'dst')[], now: number): boolean {
    const dims = this.def.dims;
    if (p.family !== this.def.family) return false;
    const want: (string | { v: ReturnType<typeof addrValue> })[] = [];
    const keyParts: string[] = [];
    for (let i = 0; i < dims.length; i++) {
      const dir = dirs[i] ?? 'dst';
      if (dims[i] === 'port') {
        if (!hasPorts(p.proto)) return false;
        const port = dir === 'src' ? p.sport : p.dport;
        const proto = this.def.type === 'bitmap:port' ? 0 : p.proto;
        keyParts.push(`${proto}:${port}`);
        want.push(`${proto}:${port}`);
      } else {
        const a = dir === 'src' ? p.src : p.dst;
        keyParts.push(a);
        want.push({ v: addrValue(a, p.family) });
      }
    }
    if (!this.hasNets) {
      const e = this.exact.get(keyParts.join(','));
      if (!e || (e.expires !== undefined && e.expires <= now)) return false;
      e.packets++;
      e.bytes += p.length ?? 60;
      return true;
    }
    let best: Element | undefined;
    let bestBits = -1;
    for (const e of this.nets) {
      if (e.expires !== undefined && e.expires <= now) continue;
      let ok = true;
      let bits = 0;
      for (let i = 0; i < e.parts.length && ok; i++) {
        const part = e.parts[i];
        const w = want[i];
        if (part.kind === 'port') ok = typeof w === 'string' && w === `${part.proto}:${part.port}`;
        else {
          ok = typeof w !== 'string' && prefixContains(part.prefix, w.v);
          bits += part.prefix.bits;
        }
      }
      if (ok && bits > bestBits) {
        best = e;
        bestBits = bits;
      }
    }
    if (!best || best.nomatch) return false;
    best.packets++;
    best.bytes += p.length ?? 60;
    return true;
  }
}

function elemKey(parts: ElemPart[]): string {
  return parts
    .map((p) =>
      p.kind === 'port'
        ? `${p.proto}:${p.port}`
        : p.prefix.bits === (p.prefix.family === 4 ? 32 : 128)
          ? p.prefix.text.split('/')[0]
          : p.prefix.text,
    )
    .join(',');
}

export interface IpsetRestoreOptions {
  /** `ipset restore -exist`: ignore existing sets/elements and missing ones on delete. @default false */
  exist?: boolean;
  /** Name used in error messages. @default 'ipset' */
  source?: string;
}

/** All sets of one network namespace. */
export class IpsetStore {
  private readonly sets = new Map<string, Ipset>();
  constructor(private readonly clock: ClockView) {}

  get(name: string): Ipset | undefined {
    return this.sets.get(name);
  }

  names(): string[] {
    return [...this.sets.keys()];
  }

  /** Membership test used by `-m set`. */
  test(name: string, p: NfPacket, dirs: ('src' | 'dst')[]): boolean {
    const set = this.sets.get(name);
    if (!set) return false;
    if (set.def.type === 'list:set') return set.members.some((m) => this.test(m, p, dirs));
    return set.test(p, dirs, this.clock.now());
  }

  /** Applies `ipset restore` input. Each line is a command; the whole input is applied or none. */
  restore(text: string, options: IpsetRestoreOptions = {}): void {
    const source = options.source ?? 'ipset';
    const staged = new Map<string, Ipset>();
    for (const [k, v] of this.sets) staged.set(k, cloneSet(v));
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i].trim();
      if (!raw || raw.startsWith('#')) continue;
      const fail = (msg: string): never => {
        throw new RuleParseError(source, i + 1, msg);
      };
      let words: string[];
      try {
        words = splitWords(raw);
      } catch (e) {
        throw new RuleParseError(source, i + 1, (e as Error).message);
      }
      let exist = !!options.exist;
      words = words.filter((w) => {
        if (w === '-exist' || w === '-!') {
          exist = true;
          return false;
        }
        return true;
      });
      const [cmd, name, ...rest] = words;
      const need = (): Ipset => {
        const s = staged.get(name);
        if (!s) fail(`the set with the given name does not exist: ${name}`);
        return s!;
      };
      switch (cmd) {
        case 'create':
        case '-N':
        case 'n': {
          if (!name || rest.length === 0) fail('create needs a set name and a type');
          const def = parseCreate(name, rest, fail);
          const cur = staged.get(name);
          if (cur) {
            if (!exist || cur.def.type !== def.type || cur.def.family !== def.family) {
              fail(
                `set ${name} already exists${cur.def.type !== def.type ? ` with type ${cur.def.type}` : ''}`,
              );
            }
            break;
          }
          if (!/^[A-Za-z0-9_.:-]{1,31}$/.test(name)) fail(`invalid set name "${name}"`);
          staged.set(name, new Ipset(def));
          break;
        }
        case 'add':
        case '-A':
        case 'a': {
          const set = need();
          if (rest.length === 0) fail(`add ${name}: missing element`);
          if (set.def.type === 'list:set') {
            if (!staged.has(rest[0])) fail(`set ${rest[0]} referenced by list:set ${name} does not exist`);
            if (set.members.includes(rest[0])) {
              if (!exist) fail(`Element cannot be added to the set: it's already added`);
            } else set.members.push(rest[0]);
            break;
          }
          for (const el of parseElements(set.def, rest[0], rest.slice(1), this.clock.now(), fail)) {
            if (set.add(el, exist) === 'exists')
              fail(`Element cannot be added to the set: it's already added`);
          }
          break;
        }
        case 'del':
        case '-D':
        case 'd': {
          const set = need();
          if (set.def.type === 'list:set') {
            const at = set.members.indexOf(rest[0]);
            if (at >= 0) set.members.splice(at, 1);
            else if (!exist) fail(`Element cannot be deleted from the set: it's not added`);
            break;
          }
          for (const el of parseElements(set.def, rest[0] ?? '', [], 0, fail)) {
            if (!set.del(el.parts) && !exist) fail(`Element cannot be deleted from the set: it's not added`);
          }
          break;
        }
        case 'flush':
        case '-F':
          if (name) need().flush();
          else for (const s of staged.values()) s.flush();
          break;
        case 'destroy':
        case '-X':
        case 'x':
          if (name) {
            need();
            for (const s of staged.values())
              if (s.members.includes(name)) fail(`set ${name} is in use by ${s.def.name}`);
            staged.delete(name);
          } else staged.clear();
          break;
        case 'swap':
        case '-W': {
          const a = need();
          const b = staged.get(rest[0]);
          if (!b) fail(`the set with the given name does not exist: ${rest[0]}`);
          if (a.def.dims.join() !== b!.def.dims.join() || a.def.family !== b!.def.family) {
            fail(`sets ${name} and ${rest[0]} cannot be swapped: their types differ`);
          }
          staged.set(name, b!);
          staged.set(rest[0], a);
          (a.def as { name: string }).name = rest[0];
          (b!.def as { name: string }).name = name;
          break;
        }
        case 'rename':
        case '-E': {
          const a = need();
          if (!rest[0] || staged.has(rest[0])) fail(`cannot rename ${name} to ${rest[0] ?? '(nothing)'}`);
          staged.delete(name);
          (a.def as { name: string }).name = rest[0];
          staged.set(rest[0], a);
          break;
        }
        case 'COMMIT':
          break;
        default:
          fail(`unknown ipset command "${cmd}"`);
      }
    }
    this.sets.clear();
    for (const [k, v] of staged) this.sets.set(k, v);
  }
}

function cloneSet(s: Ipset): Ipset {
  const c = new Ipset({ ...s.def });
  for (const e of s.elements(Number.NEGATIVE_INFINITY)) c.add({ ...e }, true);
  c.members.push(...s.members);
  return c;
}

function parseCreate(name: string, words: string[], fail: (m: string) => never): IpsetDef {
  const type = words[0];
  if (!(type in TYPES)) fail(`set type ${type} is not supported`);
  const def: IpsetDef = {
    name,
    type,
    dims: TYPES[type],
    family: 4,
    timeout: 0,
    comment: false,
    counters: false,
  };
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    const arg = () => {
      const v = words[++i];
      if (v === undefined) fail(`create ${name}: ${w} needs a value`);
      return v;
    };
    switch (w) {
      case 'family': {
        const f = arg();
        if (f === 'inet') def.family = 4;
        else if (f === 'inet6') def.family = 6;
        else fail(`create ${name}: unknown family ${f}`);
        break;
      }
      case 'hashsize':
      case 'maxelem':
      case 'size':
      case 'markmask':
      case 'bucketsize':
      case 'initval':
        if (!/^(0x[0-9a-f]+|\d+)$/i.test(arg())) fail(`create ${name}: ${w} must be a number`);
        break;
      case 'netmask':
        if (!/^\d+$/.test(arg())) fail(`create ${name}: netmask must be a prefix length`);
        break;
      case 'timeout': {
        const t = arg();
        if (!/^\d+$/.test(t)) fail(`create ${name}: timeout must be seconds`);
        def.timeout = Number(t);
        break;
      }
      case 'range': {
        const r = arg();
        if (type === 'bitmap:port') {
          const m = /^(\d+)-(\d+)$/.exec(r);
          if (!m) fail(`create ${name}: range must be PORT-PORT`);
          def.range = { min: Number(m![1]), max: Number(m![2]) };
        } else {
          const pfx = parsePrefix(r, 4);
          if (!pfx) fail(`create ${name}: range must be a CIDR`);
          def.range = { prefix: pfx! };
        }
        break;
      }
      case 'comment':
        def.comment = true;
        break;
      case 'counters':
        def.counters = true;
        break;
      case 'skbinfo':
      case 'forceadd':
        break;
      default:
        fail(`create ${name}: unknown option "${w}"`);
    }
  }
  if (type === 'bitmap:port' && !def.range) fail(`create ${name}: bitmap:port needs "range"`);
  return def;
}

function parsePort(text: string, fail: (m: string) => never): { proto: number; min: number; max: number } {
  let proto = 6;
  let ports = text;
  const colon = text.indexOf(':');
  if (colon >= 0) {
    const p = protoNumber(text.slice(0, colon));
    if (p === undefined || !hasPorts(p)) fail(`invalid protocol in "${text}"`);
    proto = p!;
    ports = text.slice(colon + 1);
  }
  const m = /^(\d+)(?:-(\d+))?$/.exec(ports);
  if (!m) fail(`invalid port "${text}"`);
  const min = Number(m![1]);
  const max = m![2] === undefined ? min : Number(m![2]);
  if (min > 65535 || max > 65535 || max < min) fail(`invalid port "${text}"`);
  return { proto, min, max };
}

function parseElements(
  def: IpsetDef,
  text: string,
  opts: string[],
  now: number,
  fail: (m: string) => never,
): Element[] {
  const fields = text.split(',');
  if (fields.length !== def.dims.length) fail(`element "${text}" does not fit set type ${def.type}`);
  let combos: ElemPart[][] = [[]];
  for (let i = 0; i < def.dims.length; i++) {
    const dim = def.dims[i];
    const f = fields[i];
    const parts: ElemPart[] = [];
    if (dim === 'port') {
      const { proto, min, max } = parsePort(def.type === 'bitmap:port' ? f.replace(/^tcp:/, '') : f, fail);
      if (def.range && 'min' in def.range && (min < def.range.min || max > def.range.max)) {
        fail(`element "${text}" is outside the range of set ${def.name}`);
      }
      if (max - min > 65535) fail(`port range too large in "${f}"`);
      for (let p = min; p <= max; p++)
        parts.push({ kind: 'port', proto: def.type === 'bitmap:port' ? 0 : proto, port: p });
    } else {
      const pfx = parsePrefix(f, def.family);
      if (!pfx) fail(`invalid ${def.family === 4 ? 'IPv4' : 'IPv6'} address or network "${f}"`);
      const width = def.family === 4 ? 32 : 128;
      if (dim === 'ip' && pfx!.bits !== width) {
        if (def.family === 6 || width - pfx!.bits > 16)
          fail(`"${f}": too many addresses for an ip dimension`);
        const base = pfx!.net as number;
        for (let k = 0; k < 2 ** (width - pfx!.bits); k++) {
          parts.push({ kind: 'ip', prefix: parsePrefix(v4((base + k) >>> 0), 4)! });
        }
      } else parts.push({ kind: 'ip', prefix: pfx! });
    }
    const next: ElemPart[][] = [];
    for (const c of combos) for (const p of parts) next.push([...c, p]);
    combos = next;
  }
  let expires: number | undefined = def.timeout ? now + def.timeout : undefined;
  let nomatch = false;
  let comment: string | undefined;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i];
    if (o === 'timeout') {
      const t = opts[++i];
      if (!t || !/^\d+$/.test(t)) fail(`element "${text}": timeout must be seconds`);
      expires = Number(t) === 0 ? undefined : now + Number(t);
    } else if (o === 'nomatch') {
      if (!def.dims.includes('net')) fail(`element "${text}": nomatch needs a net dimension`);
      nomatch = true;
    } else if (o === 'comment') {
      comment = opts[++i];
      if (comment === undefined) fail(`element "${text}": comment needs text`);
    } else if (o === 'packets' || o === 'bytes' || o === 'skbmark' || o === 'skbprio' || o === 'skbqueue') {
      i++;
    } else fail(`element "${text}": unknown option "${o}"`);
  }
  return combos.map((parts) => ({ parts, text, expires, nomatch, comment, packets: 0, bytes: 0 }));
}

function v4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
