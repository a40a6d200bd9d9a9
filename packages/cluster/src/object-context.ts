import type { ClusterNetworkConfig } from '@podnet/core';
import type { Drafts } from './drafts.js';
import type { Field } from './fields.js';
import type { Source } from './issues.js';

/** What a kind's parser gets: the object (fields scoped to it), its metadata, the network config. */
export interface ObjectContext {
  root: Field;
  source: Source;
  kind: string;
  /** `''` for cluster-scoped kinds. */
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  uid?: string;
  network: ClusterNetworkConfig;
  drafts: Drafts;
}

/** Annotation that marks a pod (or a workload's pod template) ready or not ready: "true" | "false". */
export const READY_ANNOTATION = 'podnet.dev/ready';
/** Node label (CIDR with `-` for `/`) or annotation (plain CIDR) choosing the node's underlay subnet. */
export const UNDERLAY_SUBNET_KEY = 'podnet.dev/underlay-subnet';
