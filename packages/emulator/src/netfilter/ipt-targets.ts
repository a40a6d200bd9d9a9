/** iptables targets (`-j NAME`): option parsing, and where the kernel lets each one run. */
import type { NatRange } from './conntrack.js';
import { parseMarkValue, type RuleContext } from './ipt-matches.js';
import { hasPorts, type IpFamily } from './packet.js';
import type { HookName, RejectSpec } from './types.js';
import { isIp } from '@podnet/core';

export type NatKind = 'dnat' | 'snat' | 'masquerade' | 'redirect';

export type IptTarget =
  | { kind: 'accept' }
  | { kind: 'drop' }
  | { kind: 'return' }
  | { kind: 'jump'; chain: string; goto: boolean }
  | { kind: 'reject'; reject: RejectSpec }
  | { kind: 'nat'; nat: NatKind; range: NatRange; text: string }
  | { kind: 'mark'; value: number; mask: number; text: string }
  | { kind: 'log'; prefix: string; level: string }
  | { kind: 'notrack' }
  | { kind: 'none' };

/** Where a target may be used: the table and the hooks its chain must only be reached from. */
export interface TargetScope {
  tables: string[];
  hooks: HookName[];
}

export interface TargetInstance {
  readonly name: string;
  readonly options: Record<string, number>;
  readonly scope?: TargetScope;
  set(option: string, args: string[], invert: boolean): void;
  finish(rc: RuleContext): IptTarget;
}

const REJECT4: Record<string, [number, number] | 'tcp'> = {
  'icmp-net-unreachable': [3, 0],
  'net-unreach': [3, 0],
  'icmp-host-unreachable': [3, 1],
  'host-unreach': [3, 1],
  'icmp-proto-unreachable': [3, 2],
  'proto-unreach': [3, 2],
  'icmp-port-unreachable': [3, 3],
  'port-unreach': [3, 3],
  'icmp-net-prohibited': [3, 9],
  'net-prohib': [3, 9],
  'icmp-host-prohibited': [3, 10],
  'host-prohib': [3, 10],
  'icmp-admin-prohibited': [3, 13],
  'admin-prohib': [3, 13],
  'tcp-reset': 'tcp',
  'tcp-rst': 'tcp',
};

const REJECT6: Record<string, [number, number] | 'tcp'> = {
  'icmp6-no-route': [1, 0],
  'no-route': [1, 0],
  'icmp6-adm-prohibited': [1, 1],
  'adm-prohibited': [1, 1],
  'icmp6-addr-unreachable': [1, 3],
  'addr-unreach': [1, 3],
  'icmp6-port-unreachable': [1, 4],
  'port-unreach': [1, 4],
  'icmp6-policy-fail': [1, 5],
  'policy-fail': [1, 5],
  'icmp6-reject-route': [1, 6],
  'reject-route': [1, 6],
  'tcp-reset': 'tcp',
};

function err(m: string): never {
  throw new Error(m);
}

function simple(name: string, target: IptTarget): TargetInstance {
  return { name, options: {}, set: () => undefined, finish: () => target };
}

function rejectTarget(family: IpFamily): TargetInstance {
  let withName = family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
  return {
    name: 'REJECT',
    options: { '--reject-with': 1 },
    scope: { tables: ['filter'], hooks: ['INPUT', 'FORWARD', 'OUTPUT'] },
    set(_o, args) {
      const table = family === 4 ? REJECT4 : REJECT6;
      if (!(args[0] in table)) err(`unknown reject type "${args[0]}"`);
      withName = args[0];
    },
    finish(rc) {
      const t = (family === 4 ? REJECT4 : REJECT6)[withName];
      if (t === 'tcp') {
        if (rc.proto !== 6 || rc.protoInverted) rc.fail('REJECT: TCP RST can only be used with -p tcp');
        return { kind: 'reject', reject: { with: 'tcp-reset', name: withName } };
      }
      return { kind: 'reject', reject: { with: 'icmp', icmpType: t[0], icmpCode: t[1], name: withName } };
    },
  };
}

function parsePortRangeDash(text: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) err(`Port \`${text}' not valid`);
  const lo = Number(m![1]);
  const hi = m![2] === undefined ? lo : Number(m![2]);
  if (lo === 0 && hi === 0) err(`Port \`${text}' not valid`);
  if (lo > 65535 || hi > 65535 || hi < lo) err(`Port range \`${text}' not valid`);
  return [lo, hi];
}

/**
 * Splits a NAT target's `ADDR[:PORTS]` (IPv6 as `[ADDR]:PORTS` or `:PORTS`) into its two parts; the
 * same shape in iptables' `--to-destination` and nft's `dnat to`.
 */
export function splitNatSpec(text: string, family: IpFamily): { addr: string; ports?: string } {
  if (family === 6) {
    const m = /^\[([^\]]+)\](?::(.+))?$/.exec(text);
    if (m) return { addr: m[1], ports: m[2] };
    if (text.startsWith(':')) return { addr: '', ports: text.slice(1) };
    return { addr: text };
  }
  const c = text.indexOf(':');
  return c >= 0 ? { addr: text.slice(0, c), ports: text.slice(c + 1) } : { addr: text };
}

/** `[ip[-ip]][:port[-port]]`; IPv6 addresses in brackets when a port follows. */
export function parseNatSpec(text: string, family: IpFamily): NatRange {
  const { addr, ports } = splitNatSpec(text, family);
  const range: NatRange = {};
  if (addr) {
    const [a, b] = family === 4 ? addr.split('-') : addr.includes('-') ? addr.split('-') : [addr];
    const ok = (x: string) => isIp(x) && x.includes(':') === (family === 6);
    if (!ok(a) || (b !== undefined && !ok(b))) err(`Bad IP address "${addr}"`);
    range.minAddr = a;
    range.maxAddr = b ?? a;
  }
  if (ports !== undefined) {
    const [lo, hi] = parsePortRangeDash(ports);
    range.minPort = lo;
    range.maxPort = hi;
  }
  return range;
}

function natTarget(kind: NatKind, family: IpFamily): TargetInstance {
  const name =
    kind === 'dnat' ? 'DNAT' : kind === 'snat' ? 'SNAT' : kind === 'masquerade' ? 'MASQUERADE' : 'REDIRECT';
  const toOpt = kind === 'dnat' ? '--to-destination' : kind === 'snat' ? '--to-source' : '--to-ports';
  const options: Record<string, number> = { [toOpt]: 1, '--random': 0 };
  if (kind === 'snat' || kind === 'masquerade') options['--random-fully'] = 0;
  if (kind === 'snat' || kind === 'dnat') options['--persistent'] = 0;
  if (kind === 'dnat') options['--to'] = 1;
  const hooks: HookName[] =
    kind === 'dnat' || kind === 'redirect'
      ? ['PREROUTING', 'OUTPUT']
      : kind === 'snat'
        ? ['POSTROUTING', 'INPUT']
        : ['POSTROUTING'];
  let range: NatRange | undefined;
  const flags: { random?: boolean; randomFully?: boolean; persistent?: boolean } = {};
  const words: string[] = [];
  return {
    name,
    options,
    scope: { tables: ['nat'], hooks },
    set(opt, args) {
      words.push(opt, ...args);
      if (opt === toOpt || opt === '--to') {
        if (range) err(`${name}: multiple ${toOpt} are not supported`);
        if (kind === 'masquerade' || kind === 'redirect') {
          const [lo, hi] = parsePortRangeDash(args[0]);
          range = { minPort: lo, maxPort: hi };
        } else range = parseNatSpec(args[0], family);
      } else if (opt === '--random') flags.random = true;
      else if (opt === '--random-fully') flags.randomFully = true;
      else if (opt === '--persistent') flags.persistent = true;
    },
    finish(rc) {
      if ((kind === 'dnat' || kind === 'snat') && !range) rc.fail(`${name}: you must specify ${toOpt}`);
      const r: NatRange = { ...(range ?? {}), ...flags };
      if (r.minPort !== undefined && (rc.proto === undefined || rc.protoInverted || !hasPorts(rc.proto))) {
        rc.fail(`${name}: Need TCP, UDP, SCTP or DCCP with port specification`);
      }
      const text = [name, ...words].join(' ');
      return { kind: 'nat', nat: kind, range: r, text };
    },
  };
}

function markTarget(): TargetInstance {
  let spec: { value: number; mask: number; text: string } | undefined;
  return {
    name: 'MARK',
    options: { '--set-xmark': 1, '--set-mark': 1, '--and-mark': 1, '--or-mark': 1, '--xor-mark': 1 },
    set(opt, args) {
      if (spec) err("MARK target: Can't specify --set-mark twice");
      const { value, mask } = parseMarkValue(args[0], err);
      const hasMask = args[0].includes('/');
      const text = `MARK ${opt} ${args[0]}`;
      // Every form reduces to xmark: mark = (mark & ~mask) ^ value.
      if (opt === '--set-xmark') spec = { value, mask, text };
      else if (opt === '--set-mark') spec = { value, mask: (hasMask ? mask : 0xffffffff) | value, text };
      else if (opt === '--and-mark') spec = { value: 0, mask: ~value >>> 0, text };
      else if (opt === '--or-mark') spec = { value, mask: value, text };
      else spec = { value, mask: 0, text };
      if ((opt === '--and-mark' || opt === '--or-mark' || opt === '--xor-mark') && hasMask) {
        err(`MARK: ${opt} does not take a mask`);
      }
    },
    finish(rc) {
      if (!spec) rc.fail('MARK target: Parameter --set/and/or/xor-mark is required');
      return { kind: 'mark', ...spec! };
    },
  };
}

const LOG_LEVELS = ['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug', 'warn', 'panic'];

function logTarget(): TargetInstance {
  let prefix = '';
  let level = 'warning';
  return {
    name: 'LOG',
    options: {
      '--log-prefix': 1,
      '--log-level': 1,
      '--log-tcp-sequence': 0,
      '--log-tcp-options': 0,
      '--log-ip-options': 0,
      '--log-uid': 0,
      '--log-macdecode': 0,
    },
    set(opt, args) {
      if (opt === '--log-prefix') {
        if (args[0].length > 29) err('Maximum prefix length 29 for --log-prefix');
        prefix = args[0];
      } else if (opt === '--log-level') {
        if (!LOG_LEVELS.includes(args[0]) && !/^[0-7]$/.test(args[0])) err(`log-level \`${args[0]}' unknown`);
        level = args[0];
      }
    },
    finish: () => ({ kind: 'log', prefix, level }),
  };
}

function ctTarget(): TargetInstance {
  let notrack = false;
  return {
    name: 'CT',
    options: { '--notrack': 0 },
    scope: { tables: ['raw'], hooks: ['PREROUTING', 'OUTPUT'] },
    set() {
      notrack = true;
    },
    finish(rc) {
      if (!notrack) rc.fail('CT: only --notrack is modelled');
      return { kind: 'notrack' };
    },
  };
}

export const SUPPORTED_TARGETS = [
  'ACCEPT',
  'DROP',
  'RETURN',
  'REJECT',
  'DNAT',
  'SNAT',
  'MASQUERADE',
  'REDIRECT',
  'MARK',
  'LOG',
  'NOTRACK',
  'CT',
];

/** A built-in target, or undefined when `name` must be a chain. */
export function createTarget(name: string, family: IpFamily): TargetInstance | undefined {
  switch (name) {
    case 'ACCEPT':
      return simple(name, { kind: 'accept' });
    case 'DROP':
      return simple(name, { kind: 'drop' });
    case 'RETURN':
      return simple(name, { kind: 'return' });
    case 'REJECT':
      return rejectTarget(family);
    case 'DNAT':
      return natTarget('dnat', family);
    case 'SNAT':
      return natTarget('snat', family);
    case 'MASQUERADE':
      return natTarget('masquerade', family);
    case 'REDIRECT':
      return natTarget('redirect', family);
    case 'MARK':
      return markTarget();
    case 'LOG':
      return logTarget();
    case 'NOTRACK':
      return {
        ...simple(name, { kind: 'notrack' }),
        scope: { tables: ['raw'], hooks: ['PREROUTING', 'OUTPUT'] },
      };
    case 'CT':
      return ctTarget();
    default:
      return undefined;
  }
}
