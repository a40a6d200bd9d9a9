/** apps/v1 Deployment, ReplicaSet, StatefulSet and DaemonSet. */
import { type LabelSelector, selectorMatches } from '@podnet/core';
import type { WorkloadDraft } from './drafts.js';
import type { ObjectContext } from './object-context.js';
import { readPodTemplate } from './parse-pod.js';
import { checkedString, dns1035Label, readLabelSelector } from './validation.js';

export function parseWorkload(ctx: ObjectContext): void {
  const kind = ctx.kind as WorkloadDraft['kind'];
  const spec = ctx.root.get('spec');
  if (!spec.mapping(true)) return;
  const replicas = kind === 'DaemonSet' ? 0 : spec.get('replicas').int({ min: 0, max: 10000 });
  const selectorField = spec.get('selector');
  let selector: LabelSelector | undefined;
  if (selectorField.mapping(true)) {
    selector = readLabelSelector(selectorField);
    if (Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0) {
      const raw = selectorField.value as Record<string, unknown>;
      if (!raw.matchExpressions)
        selectorField.error('must not be empty (it selects the pods of this workload)');
    }
  }
  const templateField = spec.get('template');
  const template = readPodTemplate(templateField);
  if (template && selector && !selectorMatches(selector, template.labels)) {
    templateField
      .get('metadata')
      .get('labels')
      .error('does not match spec.selector: the workload would not own its pods');
  }
  let serviceName: string | undefined;
  let ordinalStart = 0;
  if (kind === 'StatefulSet') {
    serviceName = checkedString(spec.get('serviceName'), dns1035Label);
    ordinalStart = spec.get('ordinals').get('start').int({ min: 0 }) ?? 0;
    const count = replicas ?? 1;
    const longest = `${ctx.name}-${ordinalStart + Math.max(0, count - 1)}`;
    if (longest.length > 63)
      ctx.root
        .get('metadata')
        .get('name')
        .error(`pod name ${longest} would exceed 63 characters (it is also the pod's hostname)`);
  }
  if (!selector || !template) return;
  const draft: WorkloadDraft = {
    source: ctx.source,
    kind,
    namespace: ctx.namespace,
    name: ctx.name,
    replicas: replicas ?? 1,
    selector,
    template,
    ordinalStart,
  };
  if (serviceName) draft.serviceName = serviceName;
  ctx.drafts.workloads.push(draft);
}
