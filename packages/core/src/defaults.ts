import type { ClusterNetworkConfig } from './model.js';

/** The ClusterNetwork defaults (flannel's and kubeadm's usual values). */
export function defaultClusterNetwork(): ClusterNetworkConfig {
  return {
    name: 'default',
    clusterCIDRs: ['10.244.0.0/16'],
    serviceCIDRs: ['10.96.0.0/12'],
    nodeCIDRMaskSize: 24,
    nodeCIDRMaskSizeIPv6: 64,
    clusterDomain: 'cluster.local',
    underlay: { subnets: ['192.168.50.0/24'], mtu: 1500, externalSubnet: '203.0.113.0/24' },
    overlay: { backend: 'vxlan', vni: 1, port: 8472 },
    proxy: { mode: 'iptables' },
    dns: { serviceIP: '10.96.0.10', ttl: 30, pods: 'insecure', upstreams: [], staticHosts: {} },
    serviceNodePortRange: { min: 30000, max: 32767 },
    addons: { dns: true, ingressController: 'auto' },
    ipFamilies: [4],
  };
}
