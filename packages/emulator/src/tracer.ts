/**
 * The tracer's pieces: choosers (seeded, and the one that walks every branch for `allPaths`),
 * the pcap sink, argument parsing, and the result shape (ARCHITECTURE.md's trace JSON contract).
 */
import { InvalidArgumentError, isIp, PcapngWriter, PodnetError } from '@podnet/core';
import { canon } from './addr.js';
import { encodeWire } from './frame-bytes.js';
import type { Chooser, ChoiceOption } from './hooks.js';
import type { Frame } from './packet.js';
import type { FrameSink, TraceHop, Where } from './run.js';
import type { ClockView } from './hooks.js';

export type TraceVerdict = 'delivered' | 'dropped' | 'rejected' | 'unreachable';

export interface TraceOptions {
  /** `NAMESPACE/POD`, `node/NAME`, or `external` (any fabric host by name). */
  from: string;
  /** `IP`, `IP:PORT`, `[IPv6]:PORT`, `NAMESPACE/POD` or `NAMESPACE/POD:PORT`. */
  to: string;
  /** @default 'tcp' */
  proto?: 'tcp' | 'udp' | 'icmp';
  /** Destination port when `to` has none. @default 80 */
  port?: number;
  /** IP total length of the traced packet, bytes (TCP: clamped to the source route's MTU, as the MSS is). */
  size?: number;
  /** Set Don't Fragment. @default true for TCP, false otherwise (as Linux sockets and ping behave) */
  df?: boolean;
  /** Also enumerate every random branch (kube-proxy probabilities, IPVS schedulers) with its probability. @default false */
  allPaths?: boolean;
  /** Collect every frame seen on every device as pcapng bytes. @default false */
  pcap?: boolean;
  /** Bytes the client sends: the UDP payload, or the TCP request handed to the server's handler. */
  payload?: Uint8Array;
  /** Seed of the random choices. @default the emulator's seed */
  seed?: number;
  /** Client source port (TCP/UDP) or ICMP echo id. @default derived from the seed */
  sourcePort?: number;
}

export interface TraceDelivered {
  node: string;
  /** `namespace/name` when delivered into a pod's namespace. */
  pod?: string;
  netns: string;
  ip: string;
  port?: number;
}

export interface TracePath {
  probability: number;
  verdict: TraceVerdict;
  reason?: string;
  delivered?: TraceDelivered;
  /** The branch taken at each random choice (`label` of the option, else its index). */
  choices: string[];
}

export interface TraceResult {
  verdict: TraceVerdict;
  reason?: string;
  delivered?: TraceDelivered;
  hops: TraceHop[];
  /** The answer's way back (SYN-ACK, RST, reply datagram, echo reply, ICMP error). */
  reply?: { verdict: TraceVerdict; reason?: string; delivered?: TraceDelivered; hops: TraceHop[] };
  paths?: TracePath[];
  /** Present when more branches existed than were enumerated. */
  pathsTruncated?: boolean;
  /** pcapng bytes, with `pcap: true`. */
  pcap?: Uint8Array;
  /** The server's answer bytes (TCP handler response or UDP reply), when there was one. */
  response?: Uint8Array;
  /** What was traced. */
  source: { node: string; netns: string; ip: string };
  destination: { ip: string; port?: number; proto: 'tcp' | 'udp' | 'icmp' };
}

// ---------------------------------------------------------------------------------------------
// choosers

function check(options: readonly ChoiceOption[]): number {
  if (!Array.isArray(options) || options.length === 0)
    throw new PodnetError('PODNET_INTERNAL', 'chooser: a choice needs at least one option');
  let sum = 0;
  for (const o of options) {
    if (!Number.isFinite(o.probability) || o.probability < 0) {
      throw new PodnetError(
        'PODNET_INTERNAL',
        `chooser: probability ${o.probability} of ${o.label ?? 'an option'} is not a number ≥ 0`,
      );
    }
    sum += o.probability;
  }
  if (sum <= 0) throw new PodnetError('PODNET_INTERNAL', 'chooser: the probabilities of a choice sum to 0');
  return sum;
}

/**
 * Deterministic pseudo-random choices (mulberry32), the same for the same seed. A choice with a
 * `preferred` option is a deterministic decision (an IPVS scheduler's next server): it takes that
 * option without drawing, so consecutive connections follow the scheduler as the kernel does.
 */
export class SeededChooser implements Chooser {
  private state: number;
  probability = 1;
  readonly taken: string[] = [];

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  private next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  choose(options: readonly ChoiceOption[]): number {
    const sum = check(options);
    const preferred = options.findIndex((o) => o.preferred && o.probability > 0);
    if (preferred >= 0) return this.take(options, preferred, sum);
    const r = this.next() * sum;
    let acc = 0;
    let pick = options.length - 1;
    for (let i = 0; i < options.length; i++) {
      acc += options[i].probability;
      if (r < acc && options[i].probability > 0) {
        pick = i;
        break;
      }
    }
    while (options[pick].probability === 0 && pick > 0) pick--;
    return this.take(options, pick, sum);
  }

  private take(options: readonly ChoiceOption[], pick: number, sum: number): number {
    this.probability *= options[pick].probability / sum;
    this.taken.push(options[pick].label ?? String(pick));
    return pick;
  }
}

/** Follows a prefix of choices, then takes the first option with a non-zero probability; `nextPrefix` walks the tree. */
export class PathChooser implements Chooser {
  private readonly made: { pick: number; options: readonly ChoiceOption[]; sum: number }[] = [];

  constructor(private readonly prefix: readonly number[]) {}

  choose(options: readonly ChoiceOption[]): number {
    const sum = check(options);
    const i = this.made.length;
    let pick = i < this.prefix.length ? this.prefix[i] : options.findIndex((o) => o.probability > 0);
    if (pick < 0 || pick >= options.length || options[pick].probability === 0)
      pick = options.findIndex((o) => o.probability > 0);
    this.made.push({ pick, options, sum });
    return pick;
  }

  get probability(): number {
    return this.made.reduce((p, m) => p * (m.options[m.pick].probability / m.sum), 1);
  }

  get taken(): string[] {
    return this.made.map((m) => m.options[m.pick].label ?? String(m.pick));
  }

  /** The prefix of the next branch in depth-first order, or undefined when every branch was taken. */
  nextPrefix(): number[] | undefined {
    for (let j = this.made.length - 1; j >= 0; j--) {
      const m = this.made[j];
      for (let k = m.pick + 1; k < m.options.length; k++) {
        if (m.options[k].probability > 0) return [...this.made.slice(0, j).map((x) => x.pick), k];
      }
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// pcap

const LINKTYPE_RAW = 101;
/** pcap timestamps start here (2024-01-01T00:00:00Z) plus the virtual clock. */
const EPOCH_NS = 1_704_067_200n * 1_000_000_000n;

/** Every frame a device sends or receives, one pcapng interface per node/netns/device. */
export class PcapSink implements FrameSink {
  private readonly writer = new PcapngWriter();
  private n = 0;

  constructor(private readonly clock: ClockView) {}

  capture(where: Where, device: string, frame: Frame, linktype: 'ethernet' | 'raw'): void {
    const name = `${where.node}/${where.name}/${device}`;
    this.writer.addInterface(name, { linktype: linktype === 'raw' ? LINKTYPE_RAW : 1 });
    for (const bytes of encodeWire(frame, linktype === 'raw')) {
      const t = EPOCH_NS + BigInt(Math.round(this.clock.now() * 1e6)) * 1000n + BigInt(this.n++) * 1000n;
      this.writer.add({ device: name, timestamp: t, bytes });
    }
  }

  bytes(): Uint8Array {
    return this.writer.toBytes();
  }

  get frames(): number {
    return this.writer.size;
  }
}

// ---------------------------------------------------------------------------------------------
// arguments

export interface Destination {
  ip?: string;
  pod?: string;
  port?: number;
}

function port(text: string, whole: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n < 1 || n > 65535)
    throw new InvalidArgumentError('to', `"${whole}": port ${text} is outside 1-65535`);
  return n;
}

/** `IP`, `IP:PORT`, `[IPv6]:PORT`, `NAMESPACE/POD[:PORT]`. */
export function parseDestination(to: string): Destination {
  if (typeof to !== 'string' || to === '')
    throw new InvalidArgumentError('to', 'a destination is required: IP[:PORT] or NAMESPACE/POD[:PORT]');
  const br = /^\[([^\]]+)\](?::(.*))?$/.exec(to);
  if (br) {
    if (!isIp(br[1])) throw new InvalidArgumentError('to', `"${to}": ${br[1]} is not an IPv6 address`);
    return { ip: canon(br[1]), port: br[2] !== undefined ? port(br[2], to) : undefined };
  }
  if (isIp(to)) return { ip: canon(to) };
  const colon = to.lastIndexOf(':');
  const host = colon > 0 && !to.slice(0, colon).includes(':') ? to.slice(0, colon) : to;
  const p = host !== to ? port(to.slice(colon + 1), to) : undefined;
  if (isIp(host)) return { ip: canon(host), port: p };
  if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(host))
    return { pod: host, port: p };
  throw new InvalidArgumentError(
    'to',
    `"${to}" is not IP[:PORT], [IPv6]:PORT or NAMESPACE/POD[:PORT] (DNS names are not resolved by the emulated tracer)`,
  );
}
