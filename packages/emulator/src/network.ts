/**
 * The emulated backend: realizes a ClusterDataplane in memory, starts the plan's apps on emulated
 * sockets, traces packets, applies plan changes node by node.
 */
import {
  type ApplyOptions,
  type AppModule,
  type AppRegistry,
  type Backend,
  type ClusterDataplane,
  InvalidArgumentError,
  type Network,
  type NodeDataplane,
  NotFoundError,
  PodnetError,
  SPECIFICATION_VERSION,
} from '@podnet/core';
import { VirtualClock } from './clock.js';
import { BridgeDevice, type Device, VethDevice, VxlanDevice } from './devices.js';
import { buildFabric, type Fabric } from './fabric.js';
import type { NamespaceView, NetfilterFactory, RouteView } from './hooks.js';
import { createNetfilter } from './netfilter/engine.js';
import type { Netns } from './netns.js';
import { type BuiltNode, buildNode } from './realize.js';
import { Recorder, Run, newLeg } from './run.js';
import { AppHost, exchange, type HostContext } from './sockets.js';
import {
  type Destination,
  parseDestination,
  PathChooser,
  PcapSink,
  SeededChooser,
  type TraceOptions,
  type TracePath,
  type TraceResult,
} from './tracer.js';
import { workloadApp } from './workload.js';

export interface EmulatorOptions {
  /**
   * Builds the netfilter engine of each namespace from the node's plan (iptables-restore, nft,
   * ipset and ipvsadm text). `acceptAllNetfilter` turns filtering and NAT off.
   * @default createNetfilter (the interpreter in src/netfilter; engines only where the plan has rules)
   */
  netfilter?: NetfilterFactory;
  /** Seed of a trace's random choices when the trace gives none. @default 1 */
  seed?: number;
  /** Work items one run may process before it is stopped (guards against L2 loops, which have no TTL). @default 100000 */
  maxEvents?: number;
  /** Upper bound on the branches `allPaths` enumerates. @default 1024 */
  maxPaths?: number;
}

export interface LinkInfo {
  name: string;
  kind: Device['kind'];
  mtu: number;
  mac: string;
  up: boolean;
  master?: string;
  hairpin?: boolean;
  peer?: { netns: string; name: string };
  vxlan?: { vni: number; local: string; dstport: number; learning: boolean };
}

export interface NeighbourInfo {
  netns: string;
  dev: string;
  ip: string;
  lladdr?: string;
  /** As `ip neigh` prints it: PERMANENT, NOARP, REACHABLE, STALE, INCOMPLETE, FAILED. */
  state: string;
}

export interface FdbInfo {
  netns: string;
  /** The bridge port or VXLAN device the entry points at. */
  dev: string;
  lladdr: string;
  /** Remote VTEP (VXLAN entries). */
  dst?: string;
  /** The bridge (bridge entries). */
  master?: string;
  state: 'local' | 'permanent' | 'learned';
  /** Seconds since a learned entry was last refreshed. */
  age?: number;
}

/** One namespace of the emulated network, for inspection. */
export interface EmulatedNamespace extends NamespaceView {
  readonly kind: 'node' | 'pod' | 'fabric';
  readonly pod?: { namespace: string; name: string };
  links(): LinkInfo[];
  /** `ip route` lines of the main table (`table: 'local'` for the local table). */
  routes(options?: { family?: 4 | 6; table?: string }): string[];
  neighbours(): NeighbourInfo[];
  fdb(): FdbInfo[];
  listeners(): { proto: 'tcp' | 'udp'; address?: string; port: number; app: string }[];
  /** Lines apps logged with EmulatedHost.log. */
  log(): string[];
}

export interface EmulatedNetwork extends Network {
  /** Virtual time for FDB ageing and timeouts; advance it explicitly. */
  readonly clock: VirtualClock;
  /** Send one exchange through the network and report every hop. */
  trace(options: TraceOptions): TraceResult;
  /** A namespace: a node's (`root` by default), a pod's (`NAMESPACE/POD`), or a fabric host's (`router`, `external`). */
  namespace(node: string, netns?: string): EmulatedNamespace;
  namespaces(): { node: string; netns: string; kind: 'node' | 'pod' | 'fabric' }[];
  neighbours(node: string, netns?: string): NeighbourInfo[];
  fdb(node: string, netns?: string): FdbInfo[];
}

const BUILTIN_APPS: ReadonlyMap<string, AppModule<any>> = new Map([[workloadApp.id, workloadApp]]);

/** The emulated backend: `emulator().apply(plan, { apps })`. */
export function emulator(options: EmulatorOptions = {}): Backend<EmulatedNetwork> {
  return {
    specificationVersion: SPECIFICATION_VERSION,
    name: 'emulated',
    async preflight() {
      return [{ feature: 'emulated network stack', ok: true }];
    },
    async apply(plan, applyOptions = {}) {
      return new EmulatedNetworkImpl(plan, options, applyOptions);
    },
  };
}

interface NodeRecord {
  built: BuiltNode;
}

/** A node plan as two texts: its shape (a change rebuilds the node) and its rules (a change updates netfilter). */
function splitPlan(p: NodeDataplane): { shape: string; rules: string } {
  const { iptables, nftables, ipvs, ipset, ...rest } = p;
  return { shape: JSON.stringify(rest), rules: JSON.stringify({ iptables, nftables, ipvs, ipset }) };
}

class EmulatedNetworkImpl implements EmulatedNetwork, HostContext {
  readonly clock = new VirtualClock();
  plan: ClusterDataplane;
  readonly seed: number;
  private readonly netfilter: NetfilterFactory;
  private readonly maxEvents: number;
  private readonly maxPaths: number;
  private readonly apps: AppRegistry;
  private nodes = new Map<string, NodeRecord>();
  private fabric!: Fabric;
  private fabricJson = '';
  private pods = new Map<string, Netns>();
  private current?: Run;
  private destroyed = false;

  constructor(plan: ClusterDataplane, options: EmulatorOptions, apply: ApplyOptions) {
    this.netfilter = options.netfilter ?? createNetfilter;
    this.seed = options.seed ?? 1;
    this.maxEvents = options.maxEvents ?? 100_000;
    this.maxPaths = options.maxPaths ?? 1024;
    this.apps = apply.apps ?? new Map();
    this.plan = checkPlan(plan);
    apply.onProgress?.('building the fabric');
    this.buildAll(plan, apply.onProgress);
  }

  // ---- building ----

  private buildAll(plan: ClusterDataplane, progress?: (s: string) => void): void {
    this.fabric = buildFabric(plan.fabric);
    this.fabricJson = JSON.stringify(plan.fabric);
    this.nodes = new Map();
    for (const np of plan.nodes) {
      progress?.(`building node ${np.node}`);
      this.nodes.set(np.node, this.record(np));
    }
    this.indexPods();
    progress?.('starting apps');
    for (const r of this.nodes.values()) this.startApps(r.built);
  }

  private record(np: NodeDataplane, previous?: BuiltNode): NodeRecord {
    if (this.fabric.hosts.has(np.node))
      throw new PodnetError('PODNET_PLAN_CONFLICT', `node ${np.node}: the name is taken by a fabric host`);
    const built = buildNode(np, this.fabric.segments, this.netfilter, { clock: this.clock });
    if (previous) carryOver(previous, built);
    return { built };
  }

  private indexPods(): void {
    this.pods = new Map();
    for (const r of this.nodes.values()) {
      for (const ns of r.built.namespaces.values())
        if (ns.pod) this.pods.set(`${ns.pod.namespace}/${ns.pod.name}`, ns);
    }
  }

  private startApps(b: BuiltNode): void {
    for (const inst of b.plan.apps) {
      const mod = this.apps.get(inst.app) ?? BUILTIN_APPS.get(inst.app);
      if (!mod) {
        throw new NotFoundError(
          `node ${b.name}: app ${inst.name} needs app module "${inst.app}", which is not in the app registry (ApplyOptions.apps)`,
        );
      }
      const ns = b.namespaces.get(inst.netns);
      if (!ns)
        throw new PodnetError(
          'PODNET_PLAN_CONFLICT',
          `node ${b.name}: app ${inst.name} is in unknown netns ${inst.netns}`,
        );
      mod.emulated(inst.config, new AppHost(this, ns, inst.name));
    }
  }

  private teardown(b: BuiltNode): void {
    for (const p of b.physicals) p.segment?.detach(p);
  }

  async update(plan: ClusterDataplane): Promise<void> {
    this.alive();
    checkPlan(plan);
    if (JSON.stringify(plan.fabric) !== this.fabricJson) {
      for (const r of this.nodes.values()) this.teardown(r.built);
      this.plan = plan;
      this.buildAll(plan);
      return;
    }
    const next = new Map<string, NodeRecord>();
    const restart: BuiltNode[] = [];
    for (const np of plan.nodes) {
      const prev = this.nodes.get(np.node);
      const split = splitPlan(np);
      const was = prev ? splitPlan(prev.built.plan) : undefined;
      if (prev && was!.shape === split.shape) {
        if (was!.rules !== split.rules) {
          const built: BuiltNode = { ...prev.built, plan: np };
          for (const ns of built.namespaces.values()) {
            if (ns.nf?.update) ns.nf.update(np);
            else ns.nf = this.netfilter(np, ns.name, { clock: this.clock });
          }
          next.set(np.node, { built });
        } else next.set(np.node, prev);
        continue;
      }
      if (prev) this.teardown(prev.built);
      const r = this.record(np, prev?.built);
      next.set(np.node, r);
      restart.push(r.built);
    }
    for (const [name, r] of this.nodes) if (!next.has(name)) this.teardown(r.built);
    this.nodes = next;
    this.plan = plan;
    this.indexPods();
    for (const b of restart) this.startApps(b);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    for (const r of this.nodes.values()) this.teardown(r.built);
    this.nodes.clear();
    this.pods.clear();
    this.destroyed = true;
  }

  private alive(): void {
    if (this.destroyed) throw new PodnetError('PODNET_BACKEND', 'this emulated network was destroyed');
  }

  // ---- runs ----

  withRun<T>(fn: (run: Run) => T): T {
    if (this.current) return fn(this.current);
    const run = new Run(undefined, new SeededChooser(this.seed), this.clock, this.maxEvents);
    this.current = run;
    try {
      const r = fn(run);
      run.drain();
      return r;
    } finally {
      this.current = undefined;
    }
  }

  // ---- trace ----

  trace(o: TraceOptions): TraceResult {
    this.alive();
    if (typeof o !== 'object' || o === null)
      throw new InvalidArgumentError('trace', 'options are required: { from, to }');
    const proto = o.proto ?? 'tcp';
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'icmp')
      throw new InvalidArgumentError('proto', `"${String(proto)}" is not tcp, udp or icmp`);
    if (o.size !== undefined && (!Number.isInteger(o.size) || o.size < 28 || o.size > 65535)) {
      throw new InvalidArgumentError('size', `${o.size} is outside 28-65535 bytes`);
    }
    if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535))
      throw new InvalidArgumentError('port', `${o.port} is outside 1-65535`);
    const src = this.source(o.from);
    const dst = this.destination(parseDestination(o.to), src, o.to);
    if (dst.port !== undefined && o.port !== undefined && dst.port !== o.port) {
      throw new InvalidArgumentError('port', `--to names port ${dst.port} and --port ${o.port}`);
    }
    const port = proto === 'icmp' ? undefined : (dst.port ?? o.port ?? 80);
    const seed = o.seed ?? this.seed;
    const spec = {
      proto,
      dst: dst.ip,
      port,
      size: o.size,
      df: o.df,
      payload: o.payload,
      seed,
      sport: o.sourcePort,
    };

    let paths: TracePath[] | undefined;
    let truncated = false;
    if (o.allPaths) {
      paths = [];
      let prefix: number[] | undefined = [];
      while (prefix) {
        if (paths.length >= this.maxPaths) {
          truncated = true;
          break;
        }
        const chooser: PathChooser = new PathChooser(prefix);
        const top = newLeg();
        const run = new Run(new Recorder(top), chooser, this.clock, this.maxEvents);
        run.journal = [];
        try {
          this.inRun(run, () => exchange(run, src, spec, top));
        } finally {
          for (let i = run.journal.length - 1; i >= 0; i--) run.journal[i]();
        }
        const end = run.recorder!.forwardEnd;
        const v = run.aborted
          ? { verdict: 'dropped' as const, reason: run.aborted }
          : (end ?? { verdict: 'dropped' as const, reason: LOST });
        paths.push({
          probability: chooser.probability,
          verdict: v.verdict,
          ...(v.reason ? { reason: v.reason } : {}),
          ...(v.verdict === 'delivered' && end?.delivered ? { delivered: end.delivered } : {}),
          choices: chooser.taken,
        });
        prefix = chooser.nextPrefix();
      }
    }

    const top = newLeg();
    const recorder = new Recorder(top);
    const run = new Run(recorder, new SeededChooser(seed), this.clock, this.maxEvents);
    const sink = o.pcap ? new PcapSink(this.clock) : undefined;
    run.sink = sink;
    const out = this.inRun(run, () => exchange(run, src, spec, top));
    const end = run.aborted
      ? { verdict: 'dropped' as const, reason: run.aborted }
      : (recorder.forwardEnd ?? { verdict: 'dropped' as const, reason: LOST });
    const result: TraceResult = {
      verdict: end.verdict,
      ...(end.reason ? { reason: end.reason } : {}),
      ...(end.verdict === 'delivered' && 'delivered' in end && end.delivered
        ? { delivered: end.delivered }
        : {}),
      hops: recorder.hops,
      source: { node: src.node, netns: src.name, ip: out.first.src },
      destination: { ip: dst.ip, ...(port !== undefined ? { port } : {}), proto },
    };
    if (recorder.replyHops.length > 0 || recorder.replyEnd) {
      const r = recorder.replyEnd ?? {
        verdict: 'dropped' as const,
        reason: 'the answer was lost on its way back',
      };
      result.reply = {
        verdict: r.verdict,
        ...(r.reason ? { reason: r.reason } : {}),
        ...(r.verdict === 'delivered' && 'delivered' in r && r.delivered ? { delivered: r.delivered } : {}),
        hops: recorder.replyHops,
      };
    }
    if (paths) result.paths = paths;
    if (truncated) result.pathsTruncated = true;
    if (sink) result.pcap = sink.bytes();
    if (out.result.reply) result.response = out.result.reply;
    return result;
  }

  private inRun<T>(run: Run, fn: () => T): T {
    const prev = this.current;
    this.current = run;
    try {
      return fn();
    } finally {
      this.current = prev;
    }
  }

  private source(from: string): Netns {
    if (typeof from !== 'string' || from === '')
      throw new InvalidArgumentError('from', 'a source is required: NAMESPACE/POD, node/NAME or external');
    if (from.startsWith('node/')) {
      const r = this.nodes.get(from.slice(5));
      if (!r)
        throw new NotFoundError(
          `--from ${from}: no node ${from.slice(5)} (nodes: ${[...this.nodes.keys()].join(', ')})`,
        );
      const ns = r.built.namespaces.get('root');
      if (!ns) throw new NotFoundError(`--from ${from}: node ${from.slice(5)} has no root namespace`);
      return ns;
    }
    const host = this.fabric.hosts.get(from);
    if (host) return host;
    const pod = this.pods.get(from);
    if (pod) return pod;
    throw new NotFoundError(`--from ${from}: no pod, node/NAME or fabric host of that name`);
  }

  private destination(d: Destination, src: Netns, text: string): { ip: string; port?: number } {
    if (d.ip) return { ip: d.ip, port: d.port };
    const ns = this.pods.get(d.pod!);
    if (!ns) throw new NotFoundError(`--to ${text}: no pod ${d.pod}`);
    const fams = new Set(src.addrs.filter((a) => a.scope === 'global').map((a) => a.family));
    const cands = ns.addrs.filter(
      (a) => a.scope === 'global' && a.dev.kind !== 'loopback' && !a.ip.startsWith('fe80:'),
    );
    const pick = cands.find((a) => fams.has(a.family)) ?? cands[0];
    if (!pick) throw new NotFoundError(`--to ${text}: pod ${d.pod} has no address`);
    return { ip: pick.ip, port: d.port };
  }

  // ---- inspection ----

  namespace(node: string, netns = 'root'): EmulatedNamespace {
    this.alive();
    return namespaceView(this.findNs(node, netns), this.clock);
  }

  namespaces(): { node: string; netns: string; kind: 'node' | 'pod' | 'fabric' }[] {
    this.alive();
    const out: { node: string; netns: string; kind: 'node' | 'pod' | 'fabric' }[] = [];
    for (const r of this.nodes.values())
      for (const ns of r.built.namespaces.values())
        out.push({ node: ns.node, netns: ns.name, kind: ns.kind });
    for (const ns of this.fabric.hosts.values()) out.push({ node: ns.node, netns: ns.name, kind: ns.kind });
    return out;
  }

  neighbours(node: string, netns?: string): NeighbourInfo[] {
    return this.nsList(node, netns).flatMap((ns) => namespaceView(ns, this.clock).neighbours());
  }

  fdb(node: string, netns?: string): FdbInfo[] {
    return this.nsList(node, netns).flatMap((ns) => namespaceView(ns, this.clock).fdb());
  }

  private nsList(node: string, netns?: string): Netns[] {
    this.alive();
    if (netns !== undefined) return [this.findNs(node, netns)];
    const r = this.nodes.get(node);
    if (r) return [...r.built.namespaces.values()];
    const host = this.fabric.hosts.get(node);
    if (host) return [host];
    throw new NotFoundError(`no node ${node}`);
  }

  private findNs(node: string, netns: string): Netns {
    const r = this.nodes.get(node);
    const ns = r ? r.built.namespaces.get(netns) : netns === 'root' ? this.fabric.hosts.get(node) : undefined;
    if (!ns) throw new NotFoundError(r ? `node ${node} has no netns ${netns}` : `no node ${node}`);
    return ns;
  }
}

const LOST = 'the packet was lost: nothing delivered or dropped it';

function checkPlan(plan: ClusterDataplane): ClusterDataplane {
  if (
    typeof plan !== 'object' ||
    plan === null ||
    !Array.isArray(plan.nodes) ||
    typeof plan.fabric !== 'object' ||
    plan.fabric === null
  ) {
    throw new InvalidArgumentError('plan', 'a ClusterDataplane { nodes: [...], fabric: {...} } is required');
  }
  const seen = new Set<string>();
  for (const n of plan.nodes) {
    if (seen.has(n.node))
      throw new PodnetError('PODNET_PLAN_CONFLICT', `node ${n.node} appears twice in the plan`);
    seen.add(n.node);
  }
  return plan;
}

/** Learned neighbours and bridge FDB entries survive a rebuild of their node, as a kernel's do when only some config changes. */
function carryOver(prev: BuiltNode, next: BuiltNode): void {
  for (const [name, ns] of prev.namespaces) {
    const nn = next.namespaces.get(name);
    if (!nn) continue;
    for (const dev of ns.devices.values()) {
      const nd = nn.devices.get(dev.name);
      if (!nd) continue;
      for (const e of dev.neigh.values()) {
        if ((e.state === 'reachable' || e.state === 'stale') && !nd.neigh.has(e.ip)) {
          nd.neigh.set(e.ip, {
            ip: e.ip,
            dev: nd,
            mac: e.mac,
            state: e.state,
            updated: e.updated,
            queue: [],
            probes: 0,
          });
        }
      }
      if (dev instanceof BridgeDevice && nd instanceof BridgeDevice) {
        for (const e of dev.fdb.values()) {
          const port = e.port && nn.devices.get(e.port.name);
          if (!e.local && !e.permanent && port && port.master === nd && !nd.fdb.has(e.mac)) {
            nd.fdb.set(e.mac, { mac: e.mac, port, local: false, permanent: false, updated: e.updated });
          }
        }
      }
    }
  }
}

function namespaceView(ns: Netns, clock: VirtualClock): EmulatedNamespace {
  return {
    node: ns.node,
    name: ns.name,
    kind: ns.kind,
    pod: ns.pod,
    addressType: (ip) => ns.addressType(ip),
    isLocalAddress: (ip) => ns.isLocalAddress(ip),
    addresses: (dev, family) => ns.addresses(dev, family),
    route: (dst): RouteView | undefined => ns.route(dst),
    sourceAddress: (dst, oif) => ns.sourceAddress(dst, oif),
    sysctl: (key) => ns.sysctl(key),
    hasDevice: (name) => ns.hasDevice(name),
    links: () =>
      [...ns.devices.values()].map((d) => ({
        name: d.name,
        kind: d.kind,
        mtu: d.mtu,
        mac: d.mac,
        up: d.isUp(),
        ...(d.master ? { master: d.master.name, hairpin: d.hairpin } : {}),
        ...(d instanceof VethDevice ? { peer: { netns: d.peer.ns.name, name: d.peer.name } } : {}),
        ...(d instanceof VxlanDevice
          ? { vxlan: { vni: d.vni, local: d.local, dstport: d.dstport, learning: d.learning } }
          : {}),
      })),
    routes: (options = {}) => {
      const table = options.table ?? 'main';
      const fams = options.family ? [options.family] : ([4, 6] as const);
      const out: string[] = [];
      for (const f of fams) {
        if (table === 'local') {
          for (const a of ns.addrs) if (a.family === f) out.push(a.localRoute.text);
        }
        out.push(
          ...ns
            .table(f, table)
            .entries()
            .map((e) => e.text),
        );
      }
      return out;
    },
    neighbours: () =>
      ns.neighbours().map((e) => ({
        netns: ns.name,
        dev: e.dev.name,
        ip: e.ip,
        ...(e.mac ? { lladdr: e.mac } : {}),
        state: e.state.toUpperCase(),
      })),
    fdb: () => {
      const out: FdbInfo[] = [];
      for (const d of ns.devices.values()) {
        if (d instanceof BridgeDevice) {
          for (const e of d.fdb.values()) {
            out.push({
              netns: ns.name,
              dev: e.port?.name ?? d.name,
              lladdr: e.mac,
              master: d.name,
              state: e.local ? 'local' : e.permanent ? 'permanent' : 'learned',
              ...(e.local || e.permanent ? {} : { age: clock.now() - e.updated }),
            });
          }
        } else if (d instanceof VxlanDevice) {
          for (const list of d.fdb.values()) {
            for (const e of list) {
              out.push({
                netns: ns.name,
                dev: d.name,
                lladdr: e.mac,
                dst: e.dst,
                state: e.permanent ? 'permanent' : 'learned',
                ...(e.permanent ? {} : { age: clock.now() - e.updated }),
              });
            }
          }
        }
      }
      return out;
    },
    listeners: () =>
      [...ns.listeners.values()].flat().map((l) => ({
        proto: l.proto,
        ...(l.address ? { address: l.address } : {}),
        port: l.port,
        app: l.app,
      })),
    log: () => [...ns.log],
  };
}
