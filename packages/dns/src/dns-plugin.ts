/**
 * The `dns` plugin: runs the `dns` app in every DNS pod on the node, the pods behind the Service
 * that holds `dns.serviceIP` (kube-system/kube-dns), or, without such a Service, the kube-system
 * pods labelled `k8s-app: kube-dns` as CoreDNS's Deployment labels them.
 */
import {
  type DnsPlugin,
  objectKey,
  podNetnsName,
  type RenderContext,
  ROOT_NETNS,
  SPECIFICATION_VERSION,
} from '@podnet/core';
import type { DnsAppConfig } from './dns-app.js';
import { podResolvConf, renderResolvConf } from './resolv-conf.js';
import { dnsSnapshot, type ResolverOptions } from './resolver-options.js';

export interface ClusterDnsOptions {
  /** Resolver options for every DNS pod. @default from the ClusterNetwork's `dns` settings */
  resolver?: ResolverOptions;
  /** CIDRs whose out-of-zone queries may be forwarded. @default loopback, cluster, service and underlay CIDRs */
  allowRecursionFrom?: string[];
}

/** `namespace/name` of the pods that serve cluster DNS. */
export function dnsServerPods(state: RenderContext['state']): Set<string> {
  const ip = state.network.dns.serviceIP;
  const services = state.services.filter((s) => s.clusterIPs.includes(ip));
  const out = new Set<string>();
  for (const svc of services) {
    for (const slice of state.endpointSlices) {
      if (slice.namespace !== svc.namespace || slice.serviceName !== svc.name) continue;
      for (const ep of slice.endpoints) {
        if (ep.targetRef?.kind === 'Pod') out.add(`${ep.targetRef.namespace}/${ep.targetRef.name}`);
      }
    }
  }
  if (services.length === 0) {
    for (const p of state.pods) {
      if (p.namespace === 'kube-system' && p.labels['k8s-app'] === 'kube-dns') out.add(objectKey(p));
    }
  }
  return out;
}

export function clusterDns(options: ClusterDnsOptions = {}): DnsPlugin {
  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'dns',
    name: 'cluster-dns',
    render(ctx) {
      // Every pod's /etc/resolv.conf as the kubelet writes it (dnsPolicy, dnsConfig honoured).
      const resolvConfs = ctx.pods
        .filter((p) => !p.hostNetwork)
        .map((p) => ({
          netns: podNetnsName(p),
          content: renderResolvConf(podResolvConf(ctx.state.network, p)),
        }));
      const servers = dnsServerPods(ctx.state);
      const pods = ctx.pods.filter((p) => servers.has(objectKey(p)));
      if (pods.length === 0) return { resolvConfs };
      const snapshot = dnsSnapshot(ctx.state);
      return {
        resolvConfs,
        apps: pods.map((p) => {
          const config: DnsAppConfig = {
            snapshot,
            resolver: options.resolver,
            allowRecursionFrom: options.allowRecursionFrom,
          };
          return {
            name: `dns:${objectKey(p)}`,
            netns: p.hostNetwork ? ROOT_NETNS : podNetnsName(p),
            app: 'dns',
            config: JSON.parse(JSON.stringify(config)),
            pod: { namespace: p.namespace, name: p.name },
          };
        }),
      };
    },
  };
}
