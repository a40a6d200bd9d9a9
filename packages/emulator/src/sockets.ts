/**
 * Exchanges opened from a namespace (a trace's probe, or an app's sendUdp/requestTcp) and the
 * EmulatedHost an app module gets. An exchange is traced as its first packet (TCP SYN, UDP
 * datagram, ICMP echo request) and the answer (SYN-ACK, RST, datagram, echo reply, ICMP error);
 * the TCP request/response bytes go to and from the server's handler with the handshake.
 */
import {
  type EmulatedHost,
  type EmulatedTun,
  InvalidArgumentError,
  type OutboundResult,
  PodnetError,
  type TcpHandler,
  type UdpHandler,
} from '@podnet/core';
import { canon, familyOf } from './addr.js';
import { TunDevice } from './devices.js';
import { tunWrite } from './l2.js';
import { ICMP4, ICMP6, ipOutput } from './l3.js';
import { type ClientConn, connKey, type Listener, type Netns } from './netns.js';
import {
  type IpPacket,
  type Leg,
  packet,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
} from './packet.js';
import { newLeg, type Run, summarize } from './run.js';

export interface ExchangeSpec {
  proto: 'tcp' | 'udp' | 'icmp';
  dst: string;
  port?: number;
  sport?: number;
  /** UDP datagram / TCP request bytes. */
  payload?: Uint8Array;
  /** IP total length of the first packet (bytes); TCP clamps it to the MTU of the route's device, as the MSS does. */
  size?: number;
  df?: boolean;
  /** Seed for the ephemeral port, TCP sequence and ICMP id. */
  seed?: number;
  /**
   * The app opening the exchange. A UDP `sport` it listens on (listenUdp) is sent from that
   * listener's socket: no transient socket is opened, answers go to the listener's handler.
   */
  app?: string;
}

export interface ExchangeOutcome {
  leg: Leg;
  first: IpPacket;
  answer?: 'syn-ack' | 'rst' | 'udp' | 'echo-reply' | 'icmp-error';
  answerPacket?: IpPacket;
  result: OutboundResult;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function ephemeral(ns: Netns, proto: string, dst: string, port: number, seed: number): number {
  const range = 60999 - 32768 + 1;
  let p = 32768 + (hash(`${seed}|${ns.label}|${proto}|${dst}|${port}`) % range);
  for (let i = 0; i < range && ns.conns.has(connKey(proto, p, dst, port)); i++)
    p = p === 60999 ? 32768 : p + 1;
  return p;
}

/** Opens one exchange from `ns` inside `run` and processes it to the end. */
export function exchange(
  run: Run,
  ns: Netns,
  spec: ExchangeSpec,
  leg: Leg = newLeg(run.context?.tag, run.recorder?.top),
): ExchangeOutcome {
  const dst = spec.dst;
  const family = familyOf(dst);
  const seed = spec.seed ?? 1;
  const hdr = family === 4 ? 20 : 40;
  let first: IpPacket;
  let key: string;
  const df = spec.df ?? spec.proto === 'tcp';
  const base = { family, src: '', dst, ttl: 64, id: 0, df, mark: 0, tag: leg.orig } as const;
  if (spec.proto === 'tcp') {
    const port = spec.port ?? 80;
    const sport = spec.sport ?? ephemeral(ns, 'tcp', dst, port, seed);
    key = connKey('tcp', sport, dst, port);
    let data = 0;
    if (spec.size !== undefined) {
      const route = ns.fib(dst);
      const mtu = route?.type === 'unicast' && route.device ? route.device.mtu : spec.size;
      data = Math.max(0, Math.min(spec.size, mtu) - hdr - 20);
    }
    leg.request = spec.payload;
    first = packet({
      ...base,
      proto: PROTO_TCP,
      id: ++ns.ipId & 0xffff,
      l4: {
        kind: 'tcp',
        sport,
        dport: port,
        flags: TCP_SYN,
        seq: hash(`${seed}|isn|${sport}`),
        ack: 0,
        dataLength: data,
      },
    });
  } else if (spec.proto === 'udp') {
    const port = spec.port ?? 80;
    const sport = spec.sport ?? ephemeral(ns, 'udp', dst, port, seed);
    key = connKey('udp', sport, dst, port);
    const payload =
      spec.payload ??
      (spec.size !== undefined ? new Uint8Array(Math.max(0, spec.size - hdr - 8)) : new Uint8Array(0));
    first = packet({
      ...base,
      proto: PROTO_UDP,
      id: ++ns.ipId & 0xffff,
      l4: { kind: 'udp', sport, dport: port, dataLength: payload.length, payload },
    });
  } else {
    const id = spec.sport ?? ephemeral(ns, 'icmp', dst, 0, seed) & 0xffff;
    key = connKey('icmp', id, dst, 0);
    const data = spec.size !== undefined ? Math.max(0, spec.size - hdr - 8) : 56;
    first = packet({
      ...base,
      proto: family === 4 ? PROTO_ICMP : PROTO_ICMPV6,
      id: ++ns.ipId & 0xffff,
      l4: {
        kind: 'icmp',
        type: family === 4 ? ICMP4.echo : ICMP6.echo,
        code: 0,
        id,
        seq: 1,
        dataLength: data,
      },
    });
  }
  const out: ExchangeOutcome = { leg, first, result: { ok: false } };
  const conn: ClientConn = {
    key,
    leg,
    onAnswer(pkt) {
      if (out.answer) return;
      out.answerPacket = pkt;
      const l4 = pkt.l4;
      if (l4.kind === 'tcp')
        out.answer =
          l4.flags & TCP_RST ? 'rst' : l4.flags & TCP_SYN && l4.flags & TCP_ACK ? 'syn-ack' : undefined;
      else if (l4.kind === 'udp') out.answer = 'udp';
      else out.answer = l4.quoted ? 'icmp-error' : 'echo-reply';
    },
  };
  // connect()/sendto() pick the source address from the route, unless the socket is bound to one.
  const route = ns.fib(dst);
  if (route) first.src = route.type === 'local' ? dst : (route.src ?? ns.sourceAddress(dst) ?? '');
  const bound = spec.proto === 'udp' ? boundSocket(ns, spec.app, spec.sport, family, first.src) : undefined;
  if (bound?.address !== undefined) first.src = bound.address;
  // Otherwise a transient connected socket waits for the answer (and, while open, takes the
  // peer's datagrams to its port: it is the more specific match, as in udp_lib_lookup).
  if (!bound) ns.conns.set(key, conn);
  const l4 = first.l4;
  const what =
    l4.kind === 'icmp'
      ? `ping ${dst}`
      : `${spec.proto} ${l4.kind === 'tcp' ? 'connect' : 'send'} to ${dst.includes(':') ? `[${dst}]` : dst}:${l4.dport}`;
  try {
    run.sub(() => {
      run.hop(
        first.tag,
        ns,
        route?.type === 'local' ? 'lo' : (route?.device?.name ?? ''),
        'send',
        `${what} from port ${l4.kind === 'icmp' ? `id ${l4.id}` : l4.sport}` +
          (bound ? ` (udp socket ${bound.address ?? '*'}:${bound.port} of ${bound.app})` : ''),
        summarize(first),
      );
      ipOutput(run, ns, first);
    });
  } finally {
    if (!bound) ns.conns.delete(key);
  }
  out.result = outcome(out, spec.proto, leg);
  return out;
}

/**
 * The socket `app` listens on at UDP `port` in `ns` for `family` (the one bound to the route's
 * source `src`, else the wildcard one): its datagrams from that port leave by it, as a daemon's
 * leave by its bound socket. Undefined when the app has none there.
 */
function boundSocket(
  ns: Netns,
  app: string | undefined,
  port: number | undefined,
  family: 4 | 6,
  src: string,
): Listener | undefined {
  if (app === undefined || port === undefined) return undefined;
  const own = ns.listeners
    .get(`udp|${port}`)
    ?.filter((l) => l.app === app && (l.address === undefined || familyOf(l.address) === family));
  if (!own?.length) return undefined;
  return own.find((l) => l.address === src) ?? own.find((l) => l.address === undefined) ?? own[0];
}

/**
 * What the opener is told. A UDP exchange sent from an app's listening socket never has an answer
 * here (answers go to the listener's handler): ok when the datagram reached a socket, else the
 * error of how its way ended.
 */
function outcome(o: ExchangeOutcome, proto: ExchangeSpec['proto'], leg: Leg): OutboundResult {
  const a = o.answerPacket;
  switch (o.answer) {
    case 'syn-ack':
      return leg.response !== undefined ? { ok: true, reply: leg.response } : { ok: true };
    case 'udp':
      return {
        ok: true,
        reply: a && a.l4.kind === 'udp' ? (a.l4.payload ?? new Uint8Array(a.l4.dataLength)) : undefined,
      };
    case 'echo-reply':
      return { ok: true };
    case 'rst':
      return { ok: false, error: 'refused' };
    case 'icmp-error': {
      const l4 = a!.l4;
      if (l4.kind !== 'icmp') return { ok: false, error: 'unreachable' };
      const v4 = a!.family === 4;
      if ((v4 && l4.type === 11) || (!v4 && l4.type === 3)) return { ok: false, error: 'ttl-exceeded' };
      if ((v4 && l4.type === 3 && l4.code === 4) || (!v4 && l4.type === 2))
        return { ok: false, error: 'message-too-big' };
      if ((v4 && l4.type === 3 && l4.code === 3) || (!v4 && l4.type === 1 && l4.code === 4))
        return { ok: false, error: 'refused' };
      if ((v4 && l4.type === 3 && l4.code >= 9) || (!v4 && l4.type === 1 && l4.code === 1))
        return { ok: false, error: 'prohibited' };
      return { ok: false, error: 'unreachable' };
    }
    default: {
      const end = leg.origEnd;
      if (proto === 'udp' && end?.verdict === 'delivered') return { ok: true };
      if (!end || end.verdict === 'dropped')
        return {
          ok: false,
          error: end?.reason?.startsWith('message too long') ? 'message-too-big' : 'timeout',
        };
      return { ok: false, error: end.verdict === 'rejected' ? 'refused' : end.verdict };
    }
  }
}

/** What the emulator gives an app to work with: `withRun` runs the work inside the current trace, or a fresh run. */
export interface HostContext {
  withRun<T>(fn: (run: Run) => T): T;
  seed: number;
}

/** The EmulatedHost of one app instance in one namespace. */
export class AppHost implements EmulatedHost {
  constructor(
    private readonly ctx: HostContext,
    private readonly ns: Netns,
    private readonly app: string,
  ) {}

  get node(): string {
    return this.ns.node;
  }

  get netns(): string {
    return this.ns.name;
  }

  addresses(): string[] {
    return this.ns.addrs.filter((a) => a.scope !== 'host').map((a) => a.ip);
  }

  listenUdp(port: number, handler: UdpHandler, address?: string): void {
    this.bind('udp', port, address, { udp: handler });
  }

  listenTcp(port: number, handler: TcpHandler, address?: string): void {
    this.bind('tcp', port, address, { tcp: handler });
  }

  private bind(
    proto: 'tcp' | 'udp',
    port: number,
    address: string | undefined,
    h: { tcp?: TcpHandler; udp?: UdpHandler },
  ): void {
    const where = `app ${this.app} in ${this.ns.label}`;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new InvalidArgumentError('port', `${where}: ${proto} port ${port} is outside 1-65535`);
    const addr = address === undefined ? undefined : canonArg('address', address);
    if (addr !== undefined && !this.ns.local.has(addr)) {
      throw new PodnetError(
        'PODNET_PLAN_CONFLICT',
        `${where}: cannot bind ${proto} ${addr}:${port}: not an address of the namespace (EADDRNOTAVAIL)`,
      );
    }
    const key = `${proto}|${port}`;
    const list = this.ns.listeners.get(key) ?? [];
    const clash = list.find((l) => l.address === undefined || addr === undefined || l.address === addr);
    if (clash) {
      throw new PodnetError(
        'PODNET_PLAN_CONFLICT',
        `${where}: ${proto} port ${port} is already bound by ${clash.app} (EADDRINUSE)`,
      );
    }
    list.push({ proto, port, address: addr, app: this.app, ...h });
    this.ns.listeners.set(key, list);
  }

  sendUdp(
    dst: string,
    port: number,
    payload: Uint8Array,
    options: { sourcePort?: number } = {},
  ): OutboundResult {
    const to = canonArg('dst', dst);
    checkPort(port);
    if (options.sourcePort !== undefined) checkPort(options.sourcePort, 'sourcePort');
    return this.ctx.withRun(
      (run) =>
        exchange(run, this.ns, {
          proto: 'udp',
          dst: to,
          port,
          payload,
          sport: options.sourcePort,
          seed: this.ctx.seed,
          app: this.app,
        }).result,
    );
  }

  requestTcp(dst: string, port: number, request: Uint8Array): OutboundResult {
    const to = canonArg('dst', dst);
    checkPort(port);
    return this.ctx.withRun(
      (run) =>
        exchange(run, this.ns, { proto: 'tcp', dst: to, port, payload: request, seed: this.ctx.seed }).result,
    );
  }

  openTun(name: string, onPacket: (ipPacket: Uint8Array) => void): EmulatedTun {
    const dev = this.ns.devices.get(name);
    if (!(dev instanceof TunDevice))
      throw new PodnetError('PODNET_NOT_FOUND', `app ${this.app}: no TUN device ${name} in ${this.ns.label}`);
    if (dev.reader && dev.reader.app !== this.app) {
      throw new PodnetError(
        'PODNET_PLAN_CONFLICT',
        `app ${this.app}: TUN ${name} in ${this.ns.label} is already open by ${dev.reader.app} (EBUSY)`,
      );
    }
    dev.reader = { app: this.app, onPacket };
    const app = this.app;
    return {
      name,
      write: (bytes: Uint8Array) => this.ctx.withRun((run) => run.sub(() => tunWrite(run, dev, bytes, app))),
    };
  }

  log(message: string): void {
    this.ns.log.push(`${this.app}: ${message}`);
    this.ctx.withRun((run) => {
      if (run.context)
        run.hop(run.context.tag, this.ns, '', 'app', `${this.app}: ${message}`, summarize(run.context));
    });
  }
}

function canonArg(name: string, ip: string): string {
  try {
    return canon(ip);
  } catch {
    throw new InvalidArgumentError(name, `"${ip}" is not an IP address`);
  }
}

function checkPort(port: number, name = 'port'): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidArgumentError(name, `${port} is outside 1-65535`);
}
