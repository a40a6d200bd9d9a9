export { VirtualClock } from './clock.js';
export { type FlannelStyleOptions, flannelStylePlan, nodeName, podName, simpleFabric } from './fixtures.js';
export * from './hooks.js';
export { createNetfilter, netfilterFactory } from './netfilter/engine.js';
export {
  type EmulatedNamespace,
  type EmulatedNetwork,
  type EmulatorOptions,
  emulator,
  type FdbInfo,
  type LinkInfo,
  type NeighbourInfo,
} from './network.js';
export type { EncapSummary, HopStep, PacketSummary, TraceHop } from './run.js';
export {
  PathChooser,
  SeededChooser,
  type TraceDelivered,
  type TraceOptions,
  type TracePath,
  type TraceResult,
  type TraceVerdict,
} from './tracer.js';
export { httpResponse, looksLikeHttp, workloadApp, workloadTcpAnswer } from './workload.js';
