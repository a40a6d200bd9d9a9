/**
 * iptables match modules (`-m NAME` and the protocol matches `-p tcp` loads implicitly): option
 * parsing with the same refusals as iptables, and compilation to predicates over an EvalEnv.
 */
import { maskValue, parsePrefix, type Prefix, prefixMatcher } from './addr-match.js';
import type { EvalEnv } from './eval-env.js';
import { ADDR_TYPES, type AddrType } from './netns-view.js';
import {
  addrValue,
  hasPorts,
  type IpFamily,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_SCTP,
  PROTO_TCP,
  PROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
} from './packet.js';
import { RECENT_LIST_MAX, RECENT_STAMPS_MAX, type RecentEntry } from './recent.js';

export type MatchFn = (env: EvalEnv) => boolean;

/** Parse-time facts about the rule a match belongs to. */
export interface RuleContext {
  family: IpFamily;
  table: string;
  chain: string;
  /** `-p` value, when given. */
  proto?: number;
  protoInverted: boolean;
  fail(message: string): never;
}

/** What a compiled match contributes to its rule. */
export interface CompiledMatch {
  fns: MatchFn[];
  comment?: string;
  recentNames?: string[];
  setNames?: string[];
  nfacctNames?: string[];
}

export interface MatchInstance {
  readonly name: string;
  /** Option name → number of argument words. */
  readonly options: Record<string, number>;
  set(option: string, args: string[], invert: boolean): void;
  finish(rc: RuleContext): CompiledMatch;
}

const SERVICES: Record<string, number> = {
  ftp: 21,
  ssh: 22,
  telnet: 23,
  smtp: 25,
  domain: 53,
  http: 80,
  www: 80,
  pop3: 110,
  ntp: 123,
  imap: 143,
  snmp: 161,
  ldap: 389,
  https: 443,
  syslog: 514,
  ldaps: 636,
  imaps: 993,
  pop3s: 995,
  mysql: 3306,
  postgresql: 5432,
};

export function parsePort(text: string, fail: (m: string) => never): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n <= 65535) return n;
  } else if (text in SERVICES) return SERVICES[text];
  return fail(`invalid port/service \`${text}' specified`);
}

/** `P`, `P:Q`, `:Q`, `P:` → inclusive range. */
export function parsePortRange(text: string, fail: (m: string) => never): [number, number] {
  const c = text.indexOf(':');
  if (c < 0) {
    const p = parsePort(text, fail);
    return [p, p];
  }
  const lo = c === 0 ? 0 : parsePort(text.slice(0, c), fail);
  const hi = c === text.length - 1 ? 65535 : parsePort(text.slice(c + 1), fail);
  if (lo > hi) fail(`invalid portrange \`${text}' specified`);
  return [lo, hi];
}

export function parseMarkValue(text: string, fail: (m: string) => never): { value: number; mask: number } {
  const [v, m] = text.split('/');
  const num = (s: string) => {
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(s)) fail(`Bad mark value \`${text}'`);
    const n = Number(s);
    if (n > 0xffffffff) fail(`Bad mark value \`${text}'`);
    return n >>> 0;
  };
  return { value: num(v), mask: m === undefined ? 0xffffffff : num(m) };
}

function requireProto(rc: RuleContext, name: string, protos: number[]): void {
  if (rc.proto === undefined || rc.protoInverted || !protos.includes(rc.proto)) {
    rc.fail(`${name} match: needs \`-p ${name === 'multiport' ? 'tcp|udp|sctp' : name}'`);
  }
}

type PortOpt = { lo: number; hi: number; invert: boolean };

function portFn(sel: 'sport' | 'dport', o: PortOpt): MatchFn {
  const { lo, hi, invert } = o;
  return (env) => {
    const p = env.pkt[sel];
    return p >= lo && p <= hi ? !invert : invert;
  };
}

/** tcp / udp / sctp: ports (and TCP flags). */
function l4Module(name: 'tcp' | 'udp' | 'sctp' | 'udplite'): MatchInstance {
  const proto = name === 'tcp' ? PROTO_TCP : name === 'udp' ? PROTO_UDP : name === 'sctp' ? PROTO_SCTP : 136;
  let sport: PortOpt | undefined;
  let dport: PortOpt | undefined;
  let flags: { mask: number; comp: number; invert: boolean } | undefined;
  const options: Record<string, number> = {
    '--sport': 1,
    '--source-port': 1,
    '--dport': 1,
    '--destination-port': 1,
  };
  if (name === 'tcp') Object.assign(options, { '--tcp-flags': 2, '--syn': 0 });
  return {
    name,
    options,
    set(opt, args, invert) {
      const fail = (m: string): never => {
        throw new Error(m);
      };
      if (opt === '--sport' || opt === '--source-port') {
        const [lo, hi] = parsePortRange(args[0], fail);
        sport = { lo, hi, invert };
      } else if (opt === '--dport' || opt === '--destination-port') {
        const [lo, hi] = parsePortRange(args[0], fail);
        dport = { lo, hi, invert };
      } else if (opt === '--tcp-flags') {
        flags = { mask: parseTcpFlags(args[0], fail), comp: parseTcpFlags(args[1], fail), invert };
      } else if (opt === '--syn') {
        flags = { mask: TCP_SYN | TCP_RST | TCP_ACK | TCP_FIN, comp: TCP_SYN, invert };
      }
    },
    finish(rc) {
      requireProto(rc, name, [proto]);
      const fns: MatchFn[] = [];
      if (sport) fns.push(portFn('sport', sport));
      if (dport) fns.push(portFn('dport', dport));
      if (flags) {
        const f = flags;
        fns.push((env) => (((env.pkt.tcpFlags ?? TCP_ACK) & f.mask) === f.comp) !== f.invert);
      }
      return { fns };
    },
  };
}

function parseTcpFlags(text: string, fail: (m: string) => never): number {
  const names: Record<string, number> = {
    SYN: TCP_SYN,
    ACK: TCP_ACK,
    FIN: TCP_FIN,
    RST: TCP_RST,
    URG: TCP_URG,
    PSH: TCP_PSH,
    ALL: 0x3f,
    NONE: 0,
  };
  let v = 0;
  for (const n of text.split(',')) {
    if (!(n.toUpperCase() in names)) fail(`Unknown TCP flag \`${n}'`);
    v |= names[n.toUpperCase()];
  }
  return v;
}

const ICMP_TYPES: Record<string, [number, number | undefined]> = {
  any: [-1, undefined],
  'echo-reply': [0, undefined],
  pong: [0, undefined],
  'destination-unreachable': [3, undefined],
  'network-unreachable': [3, 0],
  'host-unreachable': [3, 1],
  'protocol-unreachable': [3, 2],
  'port-unreachable': [3, 3],
  'fragmentation-needed': [3, 4],
  'source-route-failed': [3, 5],
  'network-prohibited': [3, 9],
  'host-prohibited': [3, 10],
  'communication-prohibited': [3, 13],
  'source-quench': [4, undefined],
  redirect: [5, undefined],
  'echo-request': [8, undefined],
  ping: [8, undefined],
  'time-exceeded': [11, undefined],
  'ttl-exceeded': [11, 0],
  'parameter-problem': [12, undefined],
  'timestamp-request': [13, undefined],
  'timestamp-reply': [14, undefined],
};

const ICMPV6_TYPES: Record<string, [number, number | undefined]> = {
  'destination-unreachable': [1, undefined],
  'no-route': [1, 0],
  'communication-prohibited': [1, 1],
  'address-unreachable': [1, 3],
  'port-unreachable': [1, 4],
  'packet-too-big': [2, undefined],
  'time-exceeded': [3, undefined],
  'parameter-problem': [4, undefined],
  'echo-request': [128, undefined],
  'echo-reply': [129, undefined],
  'router-solicitation': [133, undefined],
  'router-advertisement': [134, undefined],
  'neighbour-solicitation': [135, undefined],
  'neighbor-solicitation': [135, undefined],
  'neighbour-advertisement': [136, undefined],
  'neighbor-advertisement': [136, undefined],
};

function icmpModule(name: 'icmp' | 'icmp6'): MatchInstance {
  const opt = name === 'icmp' ? '--icmp-type' : '--icmpv6-type';
  let spec: { type: number; code?: number; invert: boolean } | undefined;
  return {
    name,
    options: { [opt]: 1 },
    set(_o, args, invert) {
      const table = name === 'icmp' ? ICMP_TYPES : ICMPV6_TYPES;
      const t = args[0];
      if (t in table) {
        const [type, code] = table[t];
        spec = { type, code, invert };
        return;
      }
      const m = /^(\d+)(?:\/(\d+))?$/.exec(t);
      if (!m) throw new Error(`Invalid ICMP type \`${t}'`);
      spec = { type: Number(m[1]), code: m[2] === undefined ? undefined : Number(m[2]), invert };
    },
    finish(rc) {
      requireProto(rc, name, [name === 'icmp' ? PROTO_ICMP : PROTO_ICMPV6]);
      if (!spec) return { fns: [] };
      const s = spec;
      return {
        fns: [
          (env) => {
            const t = env.pkt.icmpType ?? (env.family === 4 ? 8 : 128);
            const c = env.pkt.icmpCode ?? 0;
            const hit = s.type === -1 || (t === s.type && (s.code === undefined || c === s.code));
            return hit !== s.invert;
          },
        ],
      };
    },
  };
}

function multiportModule(): MatchInstance {
  let which: 'sport' | 'dport' | 'both' | undefined;
  let ranges: [number, number][] = [];
  let inv = false;
  return {
    name: 'multiport',
    options: {
      '--sports': 1,
      '--source-ports': 1,
      '--dports': 1,
      '--destination-ports': 1,
      '--ports': 1,
    },
    set(opt, args, invert) {
      if (which) throw new Error('multiport can only have one option');
      which = opt === '--ports' ? 'both' : opt.startsWith('--s') ? 'sport' : 'dport';
      inv = invert;
      const fail = (m: string): never => {
        throw new Error(m);
      };
      const items = args[0].split(',');
      let slots = 0;
      for (const it of items) {
        slots += it.includes(':') ? 2 : 1;
        ranges.push(parsePortRange(it, fail));
      }
      if (slots > 15) throw new Error('too many ports specified');
    },
    finish(rc) {
      requireProto(rc, 'multiport', [PROTO_TCP, PROTO_UDP, PROTO_SCTP, 136, 33]);
      if (!which) rc.fail('multiport needs --sports, --dports or --ports');
      const rs = ranges;
      ranges = [];
      const w = which;
      const hit = (p: number) => rs.some(([lo, hi]) => p >= lo && p <= hi);
      return {
        fns: [
          (env) => {
            const m =
              w === 'both'
                ? hit(env.pkt.sport) || hit(env.pkt.dport)
                : hit(w === 'sport' ? env.pkt.sport : env.pkt.dport);
            return m !== inv;
          },
        ],
      };
    },
  };
}

function commentModule(): MatchInstance {
  let text: string | undefined;
  return {
    name: 'comment',
    options: { '--comment': 1 },
    set(_o, args, invert) {
      if (invert) throw new Error('comment match cannot be inverted');
      if (args[0].length > 255) throw new Error('COMMENT must be shorter than 256 characters');
      text = args[0];
    },
    finish(rc) {
      if (text === undefined) rc.fail('comment match: --comment is required');
      return { fns: [], comment: text };
    },
  };
}

function addrtypeModule(): MatchInstance {
  let src: { types: Set<AddrType>; invert: boolean } | undefined;
  let dst: { types: Set<AddrType>; invert: boolean } | undefined;
  let limitIn = false;
  let limitOut = false;
  const parseTypes = (t: string) => {
    const out = new Set<AddrType>();
    for (const x of t.split(',')) {
      const u = x.toUpperCase() as AddrType;
      if (!ADDR_TYPES.includes(u)) throw new Error(`addrtype: unknown address type \`${x}'`);
      out.add(u);
    }
    return out;
  };
  return {
    name: 'addrtype',
    options: { '--src-type': 1, '--dst-type': 1, '--limit-iface-in': 0, '--limit-iface-out': 0 },
    set(opt, args, invert) {
      if (opt === '--src-type') src = { types: parseTypes(args[0]), invert };
      else if (opt === '--dst-type') dst = { types: parseTypes(args[0]), invert };
      else if (opt === '--limit-iface-in') limitIn = true;
      else limitOut = true;
    },
    finish(rc) {
      if (!src && !dst) rc.fail('addrtype: you must specify --src-type or --dst-type');
      if (limitIn && limitOut)
        rc.fail("addrtype: you can't specify both --limit-iface-in and --limit-iface-out");
      if (limitIn && (rc.chain === 'OUTPUT' || rc.chain === 'POSTROUTING')) {
        rc.fail('addrtype: --limit-iface-in is not valid in this chain');
      }
      if (limitOut && (rc.chain === 'PREROUTING' || rc.chain === 'INPUT')) {
        rc.fail('addrtype: --limit-iface-out is not valid in this chain');
      }
      const fns: MatchFn[] = [];
      const dev = (env: EvalEnv) =>
        limitIn ? (env.pkt.iif ?? '') : limitOut ? (env.pkt.oif ?? '') : undefined;
      if (src) {
        const s = src;
        fns.push(
          (env) => s.types.has(env.host.netns.addrType(env.pkt.src, env.family, dev(env))) !== s.invert,
        );
      }
      if (dst) {
        const d = dst;
        fns.push(
          (env) => d.types.has(env.host.netns.addrType(env.pkt.dst, env.family, dev(env))) !== d.invert,
        );
      }
      return { fns };
    },
  };
}

function statisticModule(): MatchInstance {
  let mode: 'random' | 'nth' | undefined;
  let probability: number | undefined;
  let every: number | undefined;
  let packet = 0;
  let invert = false;
  return {
    name: 'statistic',
    options: { '--mode': 1, '--probability': 1, '--every': 1, '--packet': 1 },
    set(opt, args, inv) {
      if (opt === '--mode') {
        if (args[0] !== 'random' && args[0] !== 'nth') throw new Error(`Bad mode \`${args[0]}'`);
        mode = args[0];
      } else if (opt === '--probability') {
        const p = Number(args[0]);
        if (!/^(\d+(\.\d*)?|\.\d+)$/.test(args[0]) || p < 0 || p > 1)
          throw new Error(`invalid --probability \`${args[0]}'`);
        probability = p;
        if (inv) invert = true;
      } else if (opt === '--every') {
        if (!/^\d+$/.test(args[0]) || Number(args[0]) === 0) throw new Error(`invalid --every \`${args[0]}'`);
        every = Number(args[0]);
        if (inv) invert = true;
      } else {
        if (!/^\d+$/.test(args[0])) throw new Error(`invalid --packet \`${args[0]}'`);
        packet = Number(args[0]);
      }
    },
    finish(rc) {
      if (!mode) rc.fail('statistic: no --mode specified');
      if (mode === 'random') {
        if (probability === undefined) rc.fail('statistic: --probability is required in random mode');
        if (every !== undefined) rc.fail('statistic: --every can only be used in nth mode');
        // The kernel compares a 31-bit random number with round(p * 2^31).
        const p = Math.round(probability! * 0x80000000) / 0x80000000;
        const inv = invert;
        return {
          fns: [
            (env) => {
              // Probability 0 and 1 are not random in the kernel either.
              if (p >= 1) return !inv;
              if (p <= 0) return inv;
              const where = env.rule ?? '-m statistic';
              const pick = env.chooser.choose(
                [
                  { label: inv ? 'no match' : 'match', probability: p },
                  { label: inv ? 'match' : 'no match', probability: 1 - p },
                ],
                where,
              );
              const matched = pick === 0;
              env.trace?.({
                kind: 'choice',
                where,
                choice: 'statistic',
                option: matched ? 'random < p' : 'random >= p',
                probability: matched ? p : 1 - p,
                index: pick,
                of: 2,
              });
              return matched !== inv;
            },
          ],
        };
      }
      if (every === undefined) rc.fail('statistic: --every is required in nth mode');
      if (probability !== undefined) rc.fail('statistic: --probability can only be used in random mode');
      if (packet > every! - 1) rc.fail('statistic: --packet must be smaller than --every');
      // iptables stores every-1 and starts the counter at (every-1) - packet: `--packet 0`
      // matches the first packet.
      const max = every! - 1;
      let count = max - packet;
      const inv = invert;
      return {
        fns: [
          (env) => {
            const prev = count;
            env.undo(() => {
              count = prev;
            });
            count = count === max ? 0 : count + 1;
            return (count === 0) !== inv;
          },
        ],
      };
    },
  };
}

function markModule(): MatchInstance {
  let spec: { value: number; mask: number; invert: boolean } | undefined;
  return {
    name: 'mark',
    options: { '--mark': 1 },
    set(_o, args, invert) {
      const { value, mask } = parseMarkValue(args[0], (m) => {
        throw new Error(m);
      });
      spec = { value, mask, invert };
    },
    finish(rc) {
      if (!spec) rc.fail('mark match: --mark is required');
      const { value, mask, invert } = spec!;
      return { fns: [(env) => ((env.pkt.mark & mask) >>> 0 === value) !== invert] };
    },
  };
}

const CT_STATES = ['INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'SNAT', 'DNAT'] as const;
type CtStateName = (typeof CT_STATES)[number];

/** The conntrack state names a packet has (`--ctstate`). */
export function ctStates(env: EvalEnv): Set<CtStateName> {
  const out = new Set<CtStateName>();
  const ct = env.ct;
  if (env.notrack || ct?.state === 'UNTRACKED') {
    out.add('UNTRACKED');
    return out;
  }
  if (!ct || ct.state === 'INVALID' || !ct.entry) {
    out.add('INVALID');
    return out;
  }
  out.add(ct.state as CtStateName);
  const e = ct.entry;
  if (e.orig.src !== e.reply.dst || e.orig.sport !== e.reply.dport) out.add('SNAT');
  if (e.orig.dst !== e.reply.src || e.orig.dport !== e.reply.sport) out.add('DNAT');
  return out;
}

function conntrackModule(name: 'conntrack' | 'state'): MatchInstance {
  const fns: MatchFn[] = [];
  let any = false;
  const addrOpt = (
    sel: (env: EvalEnv) => string | undefined,
    text: string,
    invert: boolean,
    family: () => IpFamily,
  ) => {
    let prefix: Prefix | undefined;
    fns.push((env) => {
      prefix ??= parsePrefix(text, family());
      const a = sel(env);
      if (a === undefined || !prefix) return false;
      return prefixMatcher(prefix)(addrValue(a, env.family)) !== invert;
    });
  };
  let family: IpFamily = 4;
  const pending: (() => void)[] = [];
  const options: Record<string, number> =
    name === 'state'
      ? { '--state': 1 }
      : {
          '--ctstate': 1,
          '--ctproto': 1,
          '--ctorigsrc': 1,
          '--ctorigdst': 1,
          '--ctreplsrc': 1,
          '--ctrepldst': 1,
          '--ctorigsrcport': 1,
          '--ctorigdstport': 1,
          '--ctreplsrcport': 1,
          '--ctrepldstport': 1,
          '--ctstatus': 1,
          '--ctdir': 1,
        };
  return {
    name,
    options,
    set(opt, args, invert) {
      any = true;
      const v = args[0];
      switch (opt) {
        case '--state':
        case '--ctstate': {
          const want = v.split(',').map((s) => s.toUpperCase());
          for (const s of want) {
            if (
              !CT_STATES.includes(s as CtStateName) ||
              (opt === '--state' && (s === 'SNAT' || s === 'DNAT'))
            ) {
              throw new Error(`Bad ctstate \`${s}'`);
            }
          }
          fns.push((env) => {
            const have = ctStates(env);
            return want.some((s) => have.has(s as CtStateName)) !== invert;
          });
          break;
        }
        case '--ctproto': {
          const names: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, sctp: 132, icmpv6: 58 };
          const p = /^\d+$/.test(v) ? Number(v) : names[v.toLowerCase()];
          if (p === undefined) throw new Error(`unknown protocol \`${v}'`);
          fns.push((env) => (env.ct?.entry?.proto === p) !== invert);
          break;
        }
        case '--ctorigsrc':
          pending.push(() =>
            addrOpt(
              (env) => env.ct?.entry?.orig.src,
              v,
              invert,
              () => family,
            ),
          );
          break;
        case '--ctorigdst':
          pending.push(() =>
            addrOpt(
              (env) => env.ct?.entry?.orig.dst,
              v,
              invert,
              () => family,
            ),
          );
          break;
        case '--ctreplsrc':
          pending.push(() =>
            addrOpt(
              (env) => env.ct?.entry?.reply.src,
              v,
              invert,
              () => family,
            ),
          );
          break;
        case '--ctrepldst':
          pending.push(() =>
            addrOpt(
              (env) => env.ct?.entry?.reply.dst,
              v,
              invert,
              () => family,
            ),
          );
          break;
        case '--ctorigsrcport':
        case '--ctorigdstport':
        case '--ctreplsrcport':
        case '--ctrepldstport': {
          const [lo, hi] = parsePortRange(v, (m) => {
            throw new Error(m);
          });
          const dir = opt.startsWith('--ctorig') ? 'orig' : 'reply';
          const field = opt.includes('srcport') ? 'sport' : 'dport';
          fns.push((env) => {
            const e = env.ct?.entry;
            if (!e) return false;
            const p = e[dir][field];
            return (p >= lo && p <= hi) !== invert;
          });
          break;
        }
        case '--ctstatus': {
          const want = v.split(',').map((s) => s.toUpperCase());
          const known = ['NONE', 'EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED'];
          for (const s of want) if (!known.includes(s)) throw new Error(`Bad ctstatus \`${s}'`);
          fns.push((env) => {
            const e = env.ct?.entry;
            const has = (s: string) =>
              e
                ? s === 'SEEN_REPLY'
                  ? e.seenReply
                  : s === 'ASSURED'
                    ? e.assured
                    : s === 'CONFIRMED'
                      ? e.confirmed
                      : s === 'NONE'
                        ? !e.seenReply && !e.assured && !e.confirmed
                        : false
                : false;
            return want.some(has) !== invert;
          });
          break;
        }
        case '--ctdir': {
          const d = v.toUpperCase();
          if (d !== 'ORIGINAL' && d !== 'REPLY') throw new Error(`Bad ctdir \`${v}'`);
          if (invert) throw new Error('--ctdir cannot be inverted');
          fns.push((env) => !!env.ct?.entry && (env.ct.dir === 'orig') === (d === 'ORIGINAL'));
          break;
        }
      }
    },
    finish(rc) {
      if (!any) rc.fail(`${name} match: you must specify an option`);
      family = rc.family;
      for (const p of pending) p();
      pending.length = 0;
      return { fns: [...fns] };
    },
  };
}

function recentModule(): MatchInstance {
  let name = 'DEFAULT';
  let cmd: 'set' | 'rcheck' | 'update' | 'remove' | undefined;
  let seconds = 0;
  let hitcount = 0;
  let reap = false;
  let side: 'src' | 'dst' = 'src';
  let maskText: string | undefined;
  let invert = false;
  return {
    name: 'recent',
    options: {
      '--name': 1,
      '--set': 0,
      '--rcheck': 0,
      '--update': 0,
      '--remove': 0,
      '--seconds': 1,
      '--reap': 0,
      '--hitcount': 1,
      '--rttl': 0,
      '--rsource': 0,
      '--rdest': 0,
      '--mask': 1,
    },
    set(opt, args, inv) {
      const c = opt.slice(2);
      if (c === 'set' || c === 'rcheck' || c === 'update' || c === 'remove') {
        if (cmd) throw new Error('recent: only one of --set, --rcheck, --update or --remove may be given');
        cmd = c;
        invert = inv;
      } else if (c === 'name') name = args[0];
      else if (c === 'seconds') {
        if (!/^\d+$/.test(args[0])) throw new Error(`recent: bad --seconds \`${args[0]}'`);
        seconds = Number(args[0]);
      } else if (c === 'hitcount') {
        if (!/^\d+$/.test(args[0])) throw new Error(`recent: bad --hitcount \`${args[0]}'`);
        hitcount = Number(args[0]);
      } else if (c === 'reap') reap = true;
      else if (c === 'rttl') throw new Error('recent: --rttl is not modelled (packets carry no TTL here)');
      else if (c === 'rsource') side = 'src';
      else if (c === 'rdest') side = 'dst';
      else if (c === 'mask') maskText = args[0];
    },
    finish(rc) {
      if (!cmd) rc.fail('recent: you must specify one of --set, --rcheck, --update or --remove');
      if (reap && !seconds) rc.fail('recent: --reap requires --seconds');
      if ((seconds || hitcount || reap) && (cmd === 'set' || cmd === 'remove')) {
        rc.fail('recent: --seconds, --hitcount and --reap only go with --rcheck or --update');
      }
      if (hitcount > RECENT_STAMPS_MAX) rc.fail(`recent: --hitcount must be at most ${RECENT_STAMPS_MAX}`);
      if (!/^[\w.-]{1,200}$/.test(name)) rc.fail(`recent: bad --name \`${name}'`);
      const width = rc.family === 4 ? 32 : 128;
      let maskBits = width;
      if (maskText !== undefined) {
        const p = parsePrefix(
          `0.0.0.0/${maskText}`.replace('0.0.0.0', rc.family === 4 ? '0.0.0.0' : '::'),
          rc.family,
        );
        if (!p) rc.fail(`recent: bad --mask \`${maskText}'`);
        maskBits = p!.bits;
      }
      const c = cmd!;
      const listName = name;
      const inv = invert;
      const fam = rc.family;
      return {
        recentNames: [listName],
        fns: [
          (env) => {
            const now = env.host.clock.now();
            const list = env.host.recent.list(listName);
            const addr = side === 'src' ? env.src : env.dst;
            const key = `${fam}|${String(maskValue(addr, maskBits, fam))}`;
            let saved = false;
            const save = () => {
              if (saved) return;
              saved = true;
              const snapshot: [string, RecentEntry][] = [...list].map(([k, v]) => [
                k,
                { ...v, stamps: [...v.stamps] },
              ]);
              env.undo(() => {
                list.clear();
                for (const [k, v] of snapshot) list.set(k, v);
              });
            };
            let ret = inv;
            const e = list.get(key);
            if (!e) {
              if (c !== 'set') return ret;
              save();
              if (list.size >= RECENT_LIST_MAX) list.delete(list.keys().next().value!);
              list.set(key, { stamps: [now], ttl: 0 });
              return !ret;
            }
            if (c === 'set') ret = !ret;
            else if (c === 'remove') {
              save();
              list.delete(key);
              ret = !ret;
            } else {
              const since = now - seconds;
              let hits = 0;
              for (const s of e.stamps) {
                if (seconds && s < since) continue;
                if (!hitcount || ++hits >= hitcount) {
                  ret = !ret;
                  break;
                }
              }
              if (reap && e.stamps[e.stamps.length - 1] < since) {
                save();
                list.delete(key);
              }
            }
            if (c === 'set' || (c === 'update' && ret)) {
              save();
              e.stamps.push(now);
              if (e.stamps.length > RECENT_STAMPS_MAX) e.stamps.shift();
              // most recently used last, as the kernel's LRU list
              list.delete(key);
              list.set(key, e);
            }
            return ret;
          },
        ],
      };
    },
  };
}

function setModule(): MatchInstance {
  const specs: { name: string; dirs: ('src' | 'dst')[]; invert: boolean }[] = [];
  return {
    name: 'set',
    options: {
      '--match-set': 2,
      '--set': 2,
      '--return-nomatch': 0,
      '--update-counters': 0,
      '--update-subcounters': 0,
    },
    set(opt, args, invert) {
      if (opt === '--match-set' || opt === '--set') {
        const dirs = args[1].split(',');
        if (dirs.length > 6 || dirs.some((d) => d !== 'src' && d !== 'dst')) {
          throw new Error(`set: bad direction flags \`${args[1]}'`);
        }
        specs.push({ name: args[0], dirs: dirs as ('src' | 'dst')[], invert });
      } else if (opt === '--return-nomatch') throw new Error('set: --return-nomatch is not modelled');
    },
    finish(rc) {
      if (specs.length === 0) rc.fail('set match: you must specify --match-set');
      return {
        setNames: specs.map((s) => s.name),
        fns: specs.map((s) => (env: EvalEnv) => env.host.ipsets.test(s.name, env.pkt, s.dirs) !== s.invert),
      };
    },
  };
}

function nfacctModule(): MatchInstance {
  let name: string | undefined;
  return {
    name: 'nfacct',
    options: { '--nfacct-name': 1 },
    set(_o, args, invert) {
      if (invert) throw new Error('nfacct match cannot be inverted');
      name = args[0];
    },
    finish(rc) {
      if (!name) rc.fail('nfacct: you must specify --nfacct-name');
      const n = name!;
      return {
        nfacctNames: [n],
        fns: [
          (env) => {
            let c = env.host.nfacct.get(n);
            if (!c) env.host.nfacct.set(n, (c = { packets: 0, bytes: 0 }));
            c.packets++;
            c.bytes += env.pkt.length ?? 60;
            return true;
          },
        ],
      };
    },
  };
}

export function ifaceMatcher(
  name: string,
  invert: boolean,
  get: (env: EvalEnv) => string | undefined,
): MatchFn {
  if (name.endsWith('+')) {
    const prefix = name.slice(0, -1);
    return (env) => {
      const d = get(env);
      return (d?.startsWith(prefix) === true) !== invert;
    };
  }
  return (env) => (get(env) === name) !== invert;
}

function physdevModule(): MatchInstance {
  const fns: MatchFn[] = [];
  let any = false;
  return {
    name: 'physdev',
    options: {
      '--physdev-in': 1,
      '--physdev-out': 1,
      '--physdev-is-in': 0,
      '--physdev-is-out': 0,
      '--physdev-is-bridged': 0,
    },
    set(opt, args, invert) {
      any = true;
      if (opt === '--physdev-in') fns.push(ifaceMatcher(args[0], invert, (env) => env.pkt.physIn));
      else if (opt === '--physdev-out') fns.push(ifaceMatcher(args[0], invert, (env) => env.pkt.physOut));
      else if (opt === '--physdev-is-in') fns.push((env) => (env.pkt.physIn !== undefined) !== invert);
      else if (opt === '--physdev-is-out') fns.push((env) => (env.pkt.physOut !== undefined) !== invert);
      else fns.push((env) => (env.pkt.physIn !== undefined && env.pkt.physOut !== undefined) !== invert);
    },
    finish(rc) {
      if (!any) rc.fail('physdev: at least one option is required');
      return { fns: [...fns] };
    },
  };
}

const FACTORIES: Record<string, () => MatchInstance> = {
  tcp: () => l4Module('tcp'),
  udp: () => l4Module('udp'),
  sctp: () => l4Module('sctp'),
  udplite: () => l4Module('udplite'),
  icmp: () => icmpModule('icmp'),
  icmp6: () => icmpModule('icmp6'),
  multiport: multiportModule,
  comment: commentModule,
  addrtype: addrtypeModule,
  statistic: statisticModule,
  mark: markModule,
  conntrack: () => conntrackModule('conntrack'),
  state: () => conntrackModule('state'),
  recent: recentModule,
  set: setModule,
  nfacct: nfacctModule,
  physdev: physdevModule,
};

export const SUPPORTED_MATCHES = Object.keys(FACTORIES);

export function createMatch(name: string, family: IpFamily): MatchInstance | undefined {
  if (name === 'icmp' && family === 6) return undefined;
  if (name === 'icmp6' && family === 4) return undefined;
  return FACTORIES[name]?.();
}

/** The match `-p NAME` loads implicitly when one of its options appears. */
export function implicitProtoMatch(proto: number, family: IpFamily): string | undefined {
  if (proto === PROTO_TCP) return 'tcp';
  if (proto === PROTO_UDP) return 'udp';
  if (proto === PROTO_SCTP) return 'sctp';
  if (proto === 136) return 'udplite';
  if (proto === PROTO_ICMP && family === 4) return 'icmp';
  if (proto === PROTO_ICMPV6 && family === 6) return 'icmp6';
  return undefined;
}

export { hasPorts };
