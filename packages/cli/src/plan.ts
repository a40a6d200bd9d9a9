/**
 * From ClusterState to ClusterDataplane: the one place that maps ClusterNetwork config names
 * (`overlay.backend: vxlan`, `proxy.mode: nftables`) onto plugin factories. An explicit list, no
 * import side effects; a new plugin package is one line here.
 */
import {
  type AnyRenderingPlugin,
  CapabilityError,
  type ClusterDataplane,
  type ClusterState,
  composeDataplane,
  type OverlayBackend,
  type PluginSet,
  type PodNetworkPlugin,
  type ServiceProxy,
} from '@podnet/core';

type Factory<P> = (options: Record<string, unknown>) => P;

export const overlays: Record<string, Factory<OverlayBackend>> = {};
export const proxies: Record<string, Factory<ServiceProxy>> = {};
export const podNetworks: Record<string, Factory<PodNetworkPlugin>> = {};
export const addons: Record<string, Factory<AnyRenderingPlugin>> = {};

function pick<P>(table: Record<string, Factory<P>>, what: string, name: string, field: string): Factory<P> {
  const f = table[name];
  if (!f) {
    const known = Object.keys(table).sort();
    throw new CapabilityError(
      name,
      what,
      `ClusterNetwork: ${field}: unknown ${what} "${name}"${known.length ? ` (known: ${known.join(', ')})` : ' (no such plugin is installed)'}`,
    );
  }
  return f;
}

/** The plugins a ClusterState's ClusterNetwork asks for. */
export function pluginsFor(state: ClusterState): PluginSet {
  const { overlay, proxy } = state.network;
  const { backend, ...overlayOptions } = overlay;
  const { mode, ...proxyOptions } = proxy;
  const set: PluginSet = {
    podNetwork: pick(podNetworks, 'pod network', 'bridge', 'spec.podNetwork')({}),
    overlay: pick(overlays, 'overlay backend', backend, 'spec.overlay.backend')(overlayOptions),
  };
  if (Object.keys(proxies).length > 0 || mode) {
    set.serviceProxy = pick(proxies, 'proxy mode', mode, 'spec.proxy.mode')(proxyOptions);
  }
  return set;
}

export function buildPlan(state: ClusterState): ClusterDataplane {
  return composeDataplane(state, pluginsFor(state));
}
