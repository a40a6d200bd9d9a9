import type { ClusterDataplane, NodeDataplane } from '@podnet/core';
import type { TraceHop, TraceResult } from '@podnet/emulator';

/** `node netns device step` per hop. */
export function walk(hops: readonly TraceHop[]): string[] {
  return hops.map((h) => `${h.node} ${h.netns} ${h.device} ${h.step}`.replace(/ +/g, ' '));
}

/** Hops of the given steps only. */
export function only(hops: readonly TraceHop[], ...steps: TraceHop['step'][]): string[] {
  return walk(hops.filter((h) => steps.includes(h.step)));
}

export function node(plan: ClusterDataplane, name: string): NodeDataplane {
  const n = plan.nodes.find((x) => x.node === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
}

export function print(r: TraceResult): string {
  return [...walk(r.hops), '--- reply', ...walk(r.reply?.hops ?? [])].join('\n');
}
