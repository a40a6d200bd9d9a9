/**
 * The underlay: one L2 segment per underlay subnet (a switch that knows where every attached MAC
 * is), a router with an interface on every segment, and hosts outside the cluster.
 */
import type { Underlay } from '@podnet/core';
import type { PhysicalDevice } from './devices.js';
import type { Netns } from './netns.js';
import { buildFabricNamespaces } from './realize.js';

export class Segment {
  readonly ports: PhysicalDevice[] = [];
  readonly macs = new Map<string, PhysicalDevice>();

  constructor(
    readonly name: string,
    readonly cidr: string,
    readonly mtu: number,
  ) {}

  attach(dev: PhysicalDevice): void {
    this.ports.push(dev);
    this.macs.set(dev.mac, dev);
    dev.segment = this;
  }

  detach(dev: PhysicalDevice): void {
    const i = this.ports.indexOf(dev);
    if (i >= 0) this.ports.splice(i, 1);
    if (this.macs.get(dev.mac) === dev) this.macs.delete(dev.mac);
    dev.segment = undefined;
  }
}

export interface Fabric {
  readonly segments: Map<string, Segment>;
  /** The router's and the outside hosts' namespaces, by host name. */
  readonly hosts: Map<string, Netns>;
}

export function buildFabric(underlay: Underlay): Fabric {
  const segments = new Map<string, Segment>();
  for (const s of underlay.segments) segments.set(s.name, new Segment(s.name, s.cidr, s.mtu));
  return { segments, hosts: buildFabricNamespaces(underlay, segments) };
}
