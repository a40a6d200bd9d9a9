/**
 * Network devices. Each kind keeps only its own state (bridge FDB, VXLAN FDB, veth peer, TUN
 * reader); what happens to a frame handed to a device lives in the stack (`l2.ts`, `l3.ts`).
 *
 * A new link type: add a Device subclass here, build it in `realize.ts` from its plan link, and
 * give it a transmit case in `l2.ts` `deviceXmit` (and a receive case in `netifReceive` if it
 * delivers frames anywhere other than the ordinary path).
 */
import type { IpPacket } from './packet.js';
import type { Netns } from './netns.js';
import type { Segment } from './fabric.js';

export type DeviceKind = 'loopback' | 'physical' | 'veth' | 'bridge' | 'vxlan' | 'tun' | 'dummy';

export type NeighState = 'permanent' | 'noarp' | 'reachable' | 'stale' | 'incomplete' | 'failed';

export interface NeighEntry {
  readonly ip: string;
  readonly dev: Device;
  mac?: string;
  state: NeighState;
  /** Clock time of the last confirmation. */
  updated: number;
  /** Packets waiting for the resolution (with the route that sent them). */
  queue: { pkt: IpPacket; forwarded: boolean }[];
  probes: number;
}

export abstract class Device {
  abstract readonly kind: DeviceKind;
  /** Needs neighbour resolution to transmit IP (Ethernet-like devices). */
  abstract readonly arp: boolean;
  master?: BridgeDevice;
  hairpin = false;
  readonly neigh = new Map<string, NeighEntry>();

  constructor(
    readonly ns: Netns,
    readonly name: string,
    public mtu: number,
    public mac: string,
    public adminUp: boolean,
  ) {}

  isUp(): boolean {
    return this.adminUp;
  }

  /** `node/netns/dev`, for messages. */
  get label(): string {
    return `${this.ns.node}/${this.ns.name}/${this.name}`;
  }
}

export class LoopbackDevice extends Device {
  readonly kind = 'loopback';
  readonly arp = false;
}

export class DummyDevice extends Device {
  readonly kind = 'dummy';
  readonly arp = false;
}

export class PhysicalDevice extends Device {
  readonly kind = 'physical';
  readonly arp = true;
  segment?: Segment;
}

export class VethDevice extends Device {
  readonly kind = 'veth';
  readonly arp = true;
  peer!: VethDevice;
}

export interface BridgeFdbEntry {
  readonly mac: string;
  port?: Device;
  /** The bridge's own or a port's own address: frames to it go up to the bridge's stack. */
  readonly local: boolean;
  readonly permanent: boolean;
  updated: number;
}

export class BridgeDevice extends Device {
  readonly kind = 'bridge';
  readonly arp = true;
  readonly ports = new Set<Device>();
  readonly fdb = new Map<string, BridgeFdbEntry>();
  /** Seconds a learned entry lives. */
  ageing = 300;
}

export interface VxlanFdbEntry {
  readonly mac: string;
  readonly dst: string;
  readonly permanent: boolean;
  updated: number;
}

export class VxlanDevice extends Device {
  readonly kind = 'vxlan';
  readonly arp = true;
  /** MAC → remote VTEPs. `00:00:00:00:00:00` entries are the default destinations (flooding). */
  readonly fdb = new Map<string, VxlanFdbEntry[]>();

  constructor(
    ns: Netns,
    name: string,
    mtu: number,
    mac: string,
    adminUp: boolean,
    readonly vni: number,
    readonly local: string,
    readonly dstport: number,
    readonly learning: boolean,
    readonly underlay: string | undefined,
  ) {
    super(ns, name, mtu, mac, adminUp);
  }
}

export class TunDevice extends Device {
  readonly kind = 'tun';
  readonly arp = false;
  owner?: string;
  reader?: { app: string; onPacket: (bytes: Uint8Array) => void };
}
