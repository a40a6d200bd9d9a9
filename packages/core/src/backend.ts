/**
 * The backend contract: realize a ClusterDataplane. `emulated` and `linux` implement it; core has
 * no knowledge of either.
 */
import type { AppRegistry } from './app.js';
import type { ClusterDataplane } from './dataplane.js';
import type { SpecificationVersion } from './plugin.js';

export interface FeatureCheck {
  feature: string;
  ok: boolean;
  /** Why not, naming what is missing (`kernel lacks ip_vs`). */
  reason?: string;
}

export interface ApplyOptions {
  apps?: AppRegistry;
  /** Progress lines (`creating namespaces`, ...). */
  onProgress?: (step: string) => void;
}

/** A realized cluster network. */
export interface Network {
  readonly plan: ClusterDataplane;
  /** Apply a changed plan: only the difference is applied. */
  update(plan: ClusterDataplane): Promise<void>;
  /** Remove everything this network made. Idempotent. */
  destroy(): Promise<void>;
}

export interface Backend<N extends Network = Network> {
  readonly specificationVersion: SpecificationVersion;
  readonly name: string;
  /** What this host supports for this plan, checked before anything is created. */
  preflight?(plan: ClusterDataplane): Promise<FeatureCheck[]>;
  apply(plan: ClusterDataplane, options?: ApplyOptions): Promise<N>;
}
