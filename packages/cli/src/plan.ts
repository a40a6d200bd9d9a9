/**
 * From ClusterState to ClusterDataplane: the one place that maps ClusterNetwork config names
 * (`overlay.backend: vxlan`, `proxy.mode: nftables`) onto plugin factories, and app ids onto app
 * modules. Explicit lists, no import side effects; a new plugin package is one line here.
 */
import { bridge } from '@podnet/bridge';
import {
  type AppModule,
  type AppRegistry,
  CapabilityError,
  type ClusterDataplane,
  type ClusterState,
  composeDataplane,
  InvalidArgumentError,
  type OverlayBackend,
  type PluginSet,
  type ServiceProxy,
} from '@podnet/core';
import { clusterDns, dnsApp } from '@podnet/dns';
import { workloadApp } from '@podnet/emulator';
import { hostGw } from '@podnet/overlay-host-gw';
import { flannelUdpApp, udp } from '@podnet/overlay-udp';
import { vxlan } from '@podnet/overlay-vxlan';
import { iptablesProxy } from '@podnet/proxy-iptables';
import { nftablesProxy } from '@podnet/proxy-nftables';

type Factory<P> = (options: Record<string, unknown>) => P;

/** `ClusterNetwork.spec.overlay.backend` → factory (the other keys are its options). */
export const overlays: Record<string, Factory<OverlayBackend>> = {
  vxlan: (o) => vxlan(o),
  udp: (o) => udp(o),
  'host-gw': (o) => hostGw(o),
};

/** `ClusterNetwork.spec.proxy.mode` → factory (the other keys are KubeProxyConfiguration options). */
export const proxies: Record<string, Factory<ServiceProxy>> = {
  iptables: (o) => iptablesProxy(o),
  nftables: (o) => nftablesProxy(o),
};

/** App modules the plan's apps may name. */
export const appModules: AppModule<any>[] = [workloadApp, dnsApp, flannelUdpApp];

export function appRegistry(): AppRegistry {
  return new Map(appModules.map((a) => [a.id, a]));
}

function pick<P>(table: Record<string, Factory<P>>, what: string, name: string, field: string): Factory<P> {
  const f = table[name];
  if (!f) {
    throw new CapabilityError(
      name,
      what,
      `ClusterNetwork: ${field}: unknown ${what} "${name}" (known: ${Object.keys(table).sort().join(', ')})`,
    );
  }
  return f;
}

/** Runs a plugin factory; a bad option becomes an input error naming the ClusterNetwork field. */
function configure<P>(where: string, field: string, make: () => P): P {
  try {
    return make();
  } catch (e) {
    if (e instanceof InvalidArgumentError) {
      throw new InvalidArgumentError(where, `${field}: ${e.message}`);
    }
    throw e;
  }
}

/** The plugins a ClusterState's ClusterNetwork asks for. */
export function pluginsFor(state: ClusterState): PluginSet {
  const { backend, ...overlayOptions } = state.network.overlay;
  const { mode, ...proxyOptions } = state.network.proxy;
  const where = `ClusterNetwork ${state.network.name}`;
  return {
    podNetwork: bridge({ isDefaultGateway: true, hairpinMode: true }),
    overlay: configure(where, 'spec.overlay', () =>
      pick(overlays, 'overlay backend', backend, 'spec.overlay.backend')(overlayOptions),
    ),
    serviceProxy: configure(where, 'spec.proxy', () =>
      pick(proxies, 'proxy mode', mode, 'spec.proxy.mode')(proxyOptions),
    ),
    dns: clusterDns(),
  };
}

export function buildPlan(state: ClusterState): ClusterDataplane {
  return composeDataplane(state, pluginsFor(state));
}
