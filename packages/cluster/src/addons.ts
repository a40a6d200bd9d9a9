/**
 * The addons a cluster comes with unless the manifests bring their own: the cluster DNS
 * (`kube-system/kube-dns` at dns.serviceIP, served by a 2-replica `coredns` Deployment, as kubeadm
 * installs it) and, when Ingress objects exist, an ingress controller behind a NodePort Service
 * with a default IngressClass. They are plain manifests, parsed like the user's.
 */
import { type ClusterNetworkConfig, ipFamily } from '@podnet/core';
import type { Drafts } from './drafts.js';
import type { ManifestDocument } from './loader.js';
import { DEFAULT_CLASS_ANNOTATION } from './parse-ingress.js';

export const DNS_ADDON_FILE = '(addon dns)';
export const INGRESS_ADDON_FILE = '(addon ingress)';
export const INGRESS_NAMESPACE = 'podnet-ingress';
export const INGRESS_CONTROLLER = 'ingress-controller';
export const INGRESS_CLASS = 'podnet';
export const INGRESS_CONTROLLER_NAME = 'podnet.dev/ingress-controller';
export const COREDNS_IMAGE = 'registry.k8s.io/coredns/coredns:v1.11.3';

function doc(file: string, index: number, object: unknown): ManifestDocument {
  return { file, index, line: 1, object };
}

export function dnsAddon(network: ClusterNetworkConfig): ManifestDocument[] {
  const labels = { 'k8s-app': 'kube-dns' };
  return [
    doc(DNS_ADDON_FILE, 0, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'kube-dns',
        namespace: 'kube-system',
        labels: { ...labels, 'kubernetes.io/name': 'CoreDNS' },
      },
      spec: {
        selector: labels,
        clusterIP: network.dns.serviceIP,
        ipFamilies: [ipFamily(network.dns.serviceIP) === 4 ? 'IPv4' : 'IPv6'],
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
          { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
        ],
      },
    }),
    doc(DNS_ADDON_FILE, 1, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            dnsPolicy: 'Default',
            containers: [
              {
                name: 'coredns',
                image: COREDNS_IMAGE,
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                  { name: 'metrics', containerPort: 9153, protocol: 'TCP' },
                ],
              },
            ],
          },
        },
      },
    }),
  ];
}

export function ingressAddon(defaultClass: boolean): ManifestDocument[] {
  const labels = { 'app.kubernetes.io/name': INGRESS_CONTROLLER, 'app.kubernetes.io/part-of': 'podnet' };
  const annotations = defaultClass ? { [DEFAULT_CLASS_ANNOTATION]: 'true' } : {};
  return [
    doc(INGRESS_ADDON_FILE, 0, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: INGRESS_NAMESPACE },
    }),
    doc(INGRESS_ADDON_FILE, 1, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: INGRESS_CLASS, annotations },
      spec: { controller: INGRESS_CONTROLLER_NAME },
    }),
    doc(INGRESS_ADDON_FILE, 2, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: INGRESS_CONTROLLER, namespace: INGRESS_NAMESPACE, labels },
      spec: {
        type: 'NodePort',
        selector: labels,
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' },
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 'https' },
        ],
      },
    }),
    doc(INGRESS_ADDON_FILE, 3, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: INGRESS_CONTROLLER, namespace: INGRESS_NAMESPACE, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'controller',
                image: 'podnet/ingress-controller',
                ports: [
                  { name: 'http', containerPort: 80, protocol: 'TCP' },
                  { name: 'https', containerPort: 443, protocol: 'TCP' },
                ],
              },
            ],
          },
        },
      },
    }),
  ];
}

function keyOf(d: ManifestDocument): string {
  const o = d.object as { kind: string; metadata: { name: string; namespace?: string } };
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** The addon manifests this cluster gets, leaving out any object the user's manifests declare. */
export function addonDocuments(
  network: ClusterNetworkConfig,
  drafts: Drafts,
  declared: ReadonlySet<string>,
): ManifestDocument[] {
  const out: ManifestDocument[] = [];
  if (network.addons.dns && !declared.has('Service/kube-system/kube-dns')) out.push(...dnsAddon(network));
  const { ingressController } = network.addons;
  const hasIngress = drafts.ingresses.length > 0 || [...declared].some((k) => k.startsWith('Ingress/'));
  const wanted = ingressController === true || (ingressController === 'auto' && hasIngress);
  if (wanted && !declared.has(`Service/${INGRESS_NAMESPACE}/${INGRESS_CONTROLLER}`)) {
    out.push(...ingressAddon(!drafts.ingressClasses.some((c) => c.info.isDefault)));
  }
  return out.filter((d) => !declared.has(keyOf(d)));
}
