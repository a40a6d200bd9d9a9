/**
 * IPVS: virtual services and real servers from `ipvsadm -R` input, the schedulers (rr, wrr, lc,
 * wlc, sed, nq, sh, dh), persistence templates and the connection table. Only NAT forwarding
 * (`-m`, what kube-proxy uses) is modelled; with net.ipv4.vs.conntrack=1 (kube-proxy sets it) the
 * conntrack entry's reply tuple follows the real server, so SNAT rules see the connection.
 */
import { RuleParseError } from '@podnet/core';
import type { ClockView } from '../hooks.js';
import { parsePrefix } from './addr-match.js';
import { addrValue, hasPorts, hostPort, type IpFamily, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from './packet.js';
import { splitWords } from './words.js';

export type IpvsScheduler = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sed' | 'nq' | 'sh' | 'dh';
const SCHEDULERS: IpvsScheduler[] = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'dh'];

export interface IpvsRealServer {
  addr: string;
  port: number;
  weight: number;
  /** Upper/lower connection thresholds (0 = none). */
  upper: number;
  lower: number;
  active: number;
  inactive: number;
  overloaded: boolean;
}

export interface IpvsVirtualService {
  /** `tcp 10.96.0.1:443`, `fwmark 100`. */
  name: string;
  family: IpFamily;
  proto?: number;
  addr?: string;
  port?: number;
  fwmark?: number;
  scheduler: IpvsScheduler;
  /** Persistence timeout in seconds (0 = none). */
  persistent: number;
  /** Persistence netmask in bits. */
  netmaskBits: number;
  schedFlags: string[];
  servers: IpvsRealServer[];
  /** Scheduler state. */
  rr: number;
  wrr: { i: number; cw: number };
  line: number;
}

interface Conn {
  service: IpvsVirtualService;
  server: IpvsRealServer;
  expires: number;
  active: boolean;
}

/** Default IPVS timeouts (ipvsadm --set): tcp established, tcp fin, udp. */
export const IPVS_TIMEOUTS = { tcp: 900, tcpFin: 120, udp: 300 };

const PROTO_OF: Record<string, number> = {
  '-t': PROTO_TCP,
  '--tcp-service': PROTO_TCP,
  '-u': PROTO_UDP,
  '--udp-service': PROTO_UDP,
  '--sctp-service': PROTO_SCTP,
};

export interface IpvsPick {
  service: IpvsVirtualService;
  server: IpvsRealServer;
  /** Every eligible server with its share, for enumeration (`preferred` is the scheduler's pick). */
  options: { server: IpvsRealServer; probability: number; preferred: boolean }[];
  persistent: boolean;
}

export class Ipvs {
  readonly services = new Map<string, IpvsVirtualService>();
  private readonly conns = new Map<string, Conn>();
  private readonly templates = new Map<string, { server: IpvsRealServer; expires: number }>();

  constructor(private readonly clock: ClockView) {}

  get empty(): boolean {
    return this.services.size === 0;
  }

  /** Finds the virtual service for a destination (or for a fwmark). */
  lookup(
    family: IpFamily,
    proto: number,
    dst: string,
    dport: number,
    mark: number,
  ): IpvsVirtualService | undefined {
    if (this.services.size === 0) return undefined;
    if (mark) {
      const f = this.services.get(`fwmark ${mark} ${family}`);
      if (f) return f;
    }
    if (!hasPorts(proto)) return undefined;
    return this.services.get(svcKey(proto, dst, dport));
  }

  /**
   * Chooses a real server for a new connection from `client`; undefined when no server is
   * available (the kernel answers port unreachable).
   */
  schedule(svc: IpvsVirtualService, client: string, clientPort: number, dst: string): IpvsPick | undefined {
    const now = this.clock.now();
    this.expire(now);
    const eligible = svc.servers.filter((s) => s.weight > 0 && !s.overloaded);
    if (eligible.length === 0) return undefined;
    if (svc.persistent > 0) {
      const tk = this.templateKey(svc, client);
      const tpl = this.templates.get(tk);
      if (tpl && tpl.expires > now && svc.servers.includes(tpl.server) && tpl.server.weight > 0) {
        return {
          service: svc,
          server: tpl.server,
          options: [{ server: tpl.server, probability: 1, preferred: true }],
          persistent: true,
        };
      }
    }
    const pick = this.algorithm(svc, eligible, client, clientPort, dst);
    const total = eligible.reduce((a, s) => a + s.weight, 0);
    const deterministic = svc.scheduler === 'sh' || svc.scheduler === 'dh';
    const options = deterministic
      ? [{ server: pick, probability: 1, preferred: true }]
      : eligible.map((s) => ({
          server: s,
          probability: svc.scheduler === 'rr' ? 1 / eligible.length : s.weight / total,
          preferred: s === pick,
        }));
    return { service: svc, server: pick, options, persistent: false };
  }

  /** Records a scheduled connection (counts, persistence); returns how to undo it. */
  commit(
    svc: IpvsVirtualService,
    server: IpvsRealServer,
    client: string,
    connKey: string,
    proto: number,
    advance: boolean,
  ): () => void {
    const now = this.clock.now();
    const prevRr = svc.rr;
    const prevWrr = { ...svc.wrr };
    if (advance) this.advance(svc, server);
    const conn: Conn = {
      service: svc,
      server,
      expires: now + (proto === PROTO_UDP ? IPVS_TIMEOUTS.udp : IPVS_TIMEOUTS.tcpFin),
      active: false,
    };
    this.conns.set(connKey, conn);
    server.inactive++;
    let prevTpl: { server: IpvsRealServer; expires: number } | undefined;
    let tk: string | undefined;
    if (svc.persistent > 0) {
      tk = this.templateKey(svc, client);
      prevTpl = this.templates.get(tk);
      this.templates.set(tk, { server, expires: now + svc.persistent });
    }
    return () => {
      svc.rr = prevRr;
      svc.wrr = prevWrr;
      if (this.conns.get(connKey) === conn) {
        this.conns.delete(connKey);
        if (conn.active) server.active--;
        else server.inactive--;
      }
      if (tk) {
        if (prevTpl) this.templates.set(tk, prevTpl);
        else this.templates.delete(tk);
      }
    };
  }

  /** A packet of a known connection: refresh and, for TCP once established, count it active. */
  touch(connKey: string, established: boolean, proto: number): (() => void) | undefined {
    const c = this.conns.get(connKey);
    if (!c) return undefined;
    const prev = { expires: c.expires, active: c.active };
    const now = this.clock.now();
    if (proto === PROTO_TCP && established && !c.active) {
      c.active = true;
      c.server.inactive--;
      c.server.active++;
    }
    c.expires =
      now + (proto === PROTO_UDP ? IPVS_TIMEOUTS.udp : c.active ? IPVS_TIMEOUTS.tcp : IPVS_TIMEOUTS.tcpFin);
    return () => {
      if (c.active && !prev.active) {
        c.server.active--;
        c.server.inactive++;
      }
      c.active = prev.active;
      c.expires = prev.expires;
    };
  }

  private expire(now: number): void {
    for (const [k, c] of this.conns) {
      if (c.expires <= now) {
        this.conns.delete(k);
        if (c.active) c.server.active--;
        else c.server.inactive--;
      }
    }
    for (const [k, t] of this.templates) if (t.expires <= now) this.templates.delete(k);
  }

  private templateKey(svc: IpvsVirtualService, client: string): string {
    const p = parsePrefix(`${client}/${svc.netmaskBits}`, svc.family);
    return `${svc.name}|${p?.text ?? client}`;
  }

  private algorithm(
    svc: IpvsVirtualService,
    eligible: IpvsRealServer[],
    client: string,
    clientPort: number,
    dst: string,
  ): IpvsRealServer {
    const all = svc.servers;
    switch (svc.scheduler) {
      case 'rr': {
        for (let k = 1; k <= all.length; k++) {
          const s = all[(svc.rr + k) % all.length];
          if (s.weight > 0 && !s.overloaded) return s;
        }
        return eligible[0];
      }
      case 'wrr': {
        const step = wrrStep(svc);
        return step ? all[step.i] : eligible[0];
      }
      case 'lc':
      case 'wlc':
      case 'sed':
      case 'nq': {
        const overhead = (s: IpvsRealServer) =>
          svc.scheduler === 'sed' || svc.scheduler === 'nq' ? s.active + 1 : s.active * 256 + s.inactive;
        if (svc.scheduler === 'nq') {
          const idle = eligible.find((s) => s.active === 0);
          if (idle) return idle;
        }
        let best = eligible[0];
        for (const s of eligible.slice(1)) {
          if (svc.scheduler === 'lc') {
            if (overhead(s) < overhead(best)) best = s;
          } else if (overhead(s) * best.weight < overhead(best) * s.weight) best = s;
        }
        return best;
      }
      case 'sh':
      case 'dh': {
        const table = hashTable(svc, svc.scheduler === 'sh');
        const addr = svc.scheduler === 'sh' ? client : dst;
        const port = svc.scheduler === 'sh' && svc.schedFlags.includes('sh-port') ? clientPort : 0;
        const s = table[hashKey(addr, port, svc.family)];
        if (s && s.weight > 0 && !s.overloaded) return s;
        if (svc.scheduler === 'sh' && svc.schedFlags.includes('sh-fallback')) return eligible[0];
        return s && s.weight > 0 ? s : eligible[0];
      }
    }
  }

  private advance(svc: IpvsVirtualService, picked: IpvsRealServer): void {
    const at = svc.servers.indexOf(picked);
    if (svc.scheduler === 'rr') svc.rr = at;
    if (svc.scheduler === 'wrr') {
      const step = wrrStep(svc);
      if (step) svc.wrr = step;
    }
  }

  /** Applies `ipvsadm -R` input (all or nothing); `replace` starts from no services (as after `-C`). */
  restore(text: string, source = 'ipvsadm', replace = false): void {
    const staged = new Map<string, IpvsVirtualService>();
    if (!replace)
      for (const [k, v] of this.services) staged.set(k, { ...v, servers: v.servers.map((s) => ({ ...s })) });
    const lines = text.split('\n');
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n].trim();
      if (!line || line.startsWith('#')) continue;
      const fail = (m: string): never => {
        throw new RuleParseError(source, n + 1, m);
      };
      let words: string[];
      try {
        words = splitWords(line);
      } catch (e) {
        throw new RuleParseError(source, n + 1, (e as Error).message);
      }
      applyLine(staged, words, n + 1, fail);
    }
    // Keep live counters and scheduler state of services and servers that stay.
    for (const [k, s] of staged) {
      const old = this.services.get(k);
      if (!old) continue;
      if (old.scheduler === s.scheduler) {
        s.rr = Math.min(old.rr, Math.max(0, s.servers.length - 1));
        s.wrr = old.wrr;
      }
      for (const rs of s.servers) {
        const prev = old.servers.find((o) => o.addr === rs.addr && o.port === rs.port);
        if (prev) {
          rs.active = prev.active;
          rs.inactive = prev.inactive;
        }
      }
    }
    this.services.clear();
    for (const [k, v] of staged) this.services.set(k, v);
    for (const [k, c] of [...this.conns]) {
      const svc = this.services.get(serviceKeyOf(c.service));
      const srv = svc?.servers.find((s) => s.addr === c.server.addr && s.port === c.server.port);
      if (!svc || !srv) this.conns.delete(k);
      else {
        c.service = svc;
        c.server = srv;
      }
    }
  }

  /** `ipvsadm -Ln`-style listing. */
  list(): string {
    const out: string[] = [
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    ];
    for (const s of this.services.values()) {
      const head =
        s.fwmark !== undefined
          ? `FWM  ${s.fwmark}`
          : `${s.proto === PROTO_UDP ? 'UDP' : s.proto === PROTO_SCTP ? 'SCTP' : 'TCP'}  ${hostPort(s.addr!, s.port!)}`;
      out.push(`${head} ${s.scheduler}${s.persistent ? ` persistent ${s.persistent}` : ''}`);
      for (const r of s.servers) {
        out.push(
          `  -> ${hostPort(r.addr, r.port).padEnd(28)} Masq    ${r.weight}      ${r.active}          ${r.inactive}`,
        );
      }
    }
    return out.join('\n');
  }
}

/**
 * One step of ip_vs_wrr: walk the list from the last pick; passing the list head lowers the
 * current weight by the weights' gcd (wrapping to the maximum). The state starts at the head with
 * weight 0, so the first round visits every server once, as the kernel does.
 */
function wrrStep(svc: IpvsVirtualService): { i: number; cw: number } | undefined {
  const n = svc.servers.length;
  const weights = svc.servers.map((x) => (x.overloaded ? 0 : x.weight));
  const positive = weights.filter((w) => w > 0);
  if (positive.length === 0) return undefined;
  const max = Math.max(...positive);
  const g = positive.reduce(gcd);
  let { i, cw } = svc.wrr;
  for (let guard = 0; guard < (n + 1) * (max / g + 2); guard++) {
    i++;
    if (i >= n) {
      i = -1;
      cw -= g;
      if (cw <= 0) cw = max;
      continue;
    }
    if (weights[i] > 0 && weights[i] >= cw) return { i, cw };
  }
  return undefined;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function svcKey(proto: number, addr: string, port: number): string {
  return `${proto} ${addr} ${port}`;
}

function serviceKeyOf(s: IpvsVirtualService): string {
  return s.fwmark !== undefined ? `fwmark ${s.fwmark} ${s.family}` : svcKey(s.proto!, s.addr!, s.port!);
}

/** The 256-bucket table of sh/dh: servers placed round-robin, each `weight` times (sh). */
function hashTable(svc: IpvsVirtualService, weighted: boolean): IpvsRealServer[] {
  const servers = svc.servers;
  const table: IpvsRealServer[] = [];
  if (servers.length === 0) return table;
  let idx = 0;
  let left = weighted ? servers[0].weight : 1;
  for (let b = 0; b < 256; b++) {
    table.push(servers[idx]);
    if (weighted) {
      left--;
      if (left <= 0 || servers[idx].weight <= 0) {
        idx = (idx + 1) % servers.length;
        left = servers[idx].weight;
      }
    } else idx = (idx + 1) % servers.length;
  }
  return table;
}

/** hash_32(ntohs(port) + ntohl(addr), 8) as in ip_vs_sh/ip_vs_dh. */
function hashKey(addr: string, port: number, family: IpFamily): number {
  let a: number;
  if (family === 4) a = addrValue(addr, 4) as number;
  else {
    const v = addrValue(addr, 6) as bigint;
    a = Number((v ^ (v >> 32n) ^ (v >> 64n) ^ (v >> 96n)) & 0xffffffffn);
  }
  const x = (a + port) >>> 0;
  return Number((BigInt(x) * 0x61c88647n) & 0xffffffffn) >>> 24;
}

function parseHostPort(
  text: string,
  fail: (m: string) => never,
): { addr: string; port: number; family: IpFamily } {
  const m6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const [addr, port] = m6 ? [m6[1], m6[2]] : text.split(':');
  const family: IpFamily = m6 ? 6 : 4;
  const p = parsePrefix(addr, family);
  if (!p || p.bits !== (family === 4 ? 32 : 128)) fail(`illegal address "${text}"`);
  if (port !== undefined && (!/^\d+$/.test(port) || Number(port) > 65535)) fail(`illegal port in "${text}"`);
  return { addr: p!.text.split('/')[0], port: port === undefined ? 0 : Number(port), family };
}

function applyLine(
  staged: Map<string, IpvsVirtualService>,
  words: string[],
  line: number,
  fail: (m: string) => never,
): void {
  const cmd = words[0];
  let key: string | undefined;
  let proto: number | undefined;
  let vip: { addr: string; port: number; family: IpFamily } | undefined;
  let fwmark: number | undefined;
  let scheduler: string | undefined;
  let persistent: number | undefined;
  let netmask: string | undefined;
  let real: { addr: string; port: number } | undefined;
  let weight: number | undefined;
  let method: string | undefined;
  let upper = 0;
  let lower = 0;
  const flags: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    const arg = () => {
      const v = words[++i];
      if (v === undefined) fail(`option ${w} requires a value`);
      return v;
    };
    if (w in PROTO_OF) {
      proto = PROTO_OF[w];
      vip = parseHostPort(arg(), fail);
    } else if (w === '-f' || w === '--fwmark-service') {
      const v = arg();
      if (!/^\d+$/.test(v) || Number(v) === 0) fail(`illegal fwmark "${v}"`);
      fwmark = Number(v);
    } else if (w === '-s' || w === '--scheduler') scheduler = arg();
    else if (w === '-p' || w === '--persistent') {
      const v = words[i + 1];
      if (v !== undefined && /^\d+$/.test(v)) {
        persistent = Number(v);
        i++;
      } else persistent = 300;
    } else if (w === '-M' || w === '--netmask') netmask = arg();
    else if (w === '-r' || w === '--real-server') real = parseHostPort(arg(), fail);
    else if (w === '-w' || w === '--weight') {
      const v = arg();
      if (!/^\d+$/.test(v) || Number(v) > 65535) fail(`illegal weight "${v}"`);
      weight = Number(v);
    } else if (w === '-m' || w === '--masquerading') method = 'masq';
    else if (w === '-g' || w === '--gatewaying') method = 'route';
    else if (w === '-i' || w === '--ipip') method = 'tunnel';
    else if (w === '-x' || w === '--u-threshold') upper = Number(arg());
    else if (w === '-y' || w === '--l-threshold') lower = Number(arg());
    else if (w === '-b' || w === '--sched-flags') flags.push(...arg().split(','));
    else fail(`unknown option "${w}"`);
  }
  const family: IpFamily = vip?.family ?? 4;
  if (vip && proto !== undefined) key = svcKey(proto, vip.addr, vip.port);
  else if (fwmark !== undefined) key = `fwmark ${fwmark} ${family}`;
  const needKey = () => {
    if (!key) fail(`${cmd}: a service (-t, -u, --sctp-service or -f) is required`);
    return key!;
  };
  switch (cmd) {
    case '-C':
    case '--clear':
      staged.clear();
      return;
    case '-A':
    case '--add-service':
    case '-E':
    case '--edit-service': {
      const k = needKey();
      const exists = staged.has(k);
      if ((cmd === '-A' || cmd === '--add-service') && exists) fail('Service already exists');
      if ((cmd === '-E' || cmd === '--edit-service') && !exists) fail('No such service');
      const sch = (scheduler ?? 'wlc') as IpvsScheduler;
      if (!SCHEDULERS.includes(sch))
        fail(`scheduler ${scheduler} is not modelled (rr, wrr, lc, wlc, sed, nq, sh, dh are)`);
      let bits = family === 4 ? 32 : 128;
      if (netmask !== undefined) {
        const p = parsePrefix(`${family === 4 ? '0.0.0.0' : '::'}/${netmask}`, family);
        if (!p) fail(`illegal netmask "${netmask}"`);
        bits = p!.bits;
      }
      const prev = staged.get(k);
      staged.set(k, {
        name:
          fwmark !== undefined
            ? `FWM ${fwmark}`
            : `${proto === PROTO_UDP ? 'UDP' : proto === PROTO_SCTP ? 'SCTP' : 'TCP'} ${hostPort(vip!.addr, vip!.port)}`,
        family,
        proto,
        addr: vip?.addr,
        port: vip?.port,
        fwmark,
        scheduler: sch,
        persistent: persistent ?? 0,
        netmaskBits: bits,
        schedFlags: flags,
        servers: prev?.servers ?? [],
        rr: prev?.rr ?? -1,
        wrr: prev?.wrr ?? { i: -1, cw: 0 },
        line,
      });
      return;
    }
    case '-D':
    case '--delete-service':
      if (!staged.delete(needKey())) fail('No such service');
      return;
    case '-a':
    case '--add-server':
    case '-e':
    case '--edit-server':
    case '-d':
    case '--delete-server': {
      const svc = staged.get(needKey());
      if (!svc) fail('Service not defined');
      if (!real) fail(`${cmd}: a real server (-r) is required`);
      const port = real!.port || svc!.port || 0;
      const at = svc!.servers.findIndex((s) => s.addr === real!.addr && s.port === port);
      if (cmd === '-d' || cmd === '--delete-server') {
        if (at < 0) fail('No such destination');
        svc!.servers.splice(at, 1);
        return;
      }
      if (method !== undefined && method !== 'masq')
        fail(`forwarding method ${method} is not modelled (only -m masquerading)`);
      if (method === undefined && (cmd === '-a' || cmd === '--add-server')) {
        fail('forwarding method gatewaying (the default) is not modelled: use -m');
      }
      if (cmd === '-a' || cmd === '--add-server') {
        if (at >= 0) fail('Destination already exists');
        svc!.servers.push({
          addr: real!.addr,
          port,
          weight: weight ?? 1,
          upper,
          lower,
          active: 0,
          inactive: 0,
          overloaded: false,
        });
      } else {
        if (at < 0) fail('No such destination');
        const s = svc!.servers[at];
        if (weight !== undefined) s.weight = weight;
        s.upper = upper;
        s.lower = lower;
      }
      return;
    }
    default:
      fail(`unknown ipvsadm command "${cmd}"`);
  }
}
