/**
 * Runs one iptables table at one hook: rules in order from the hook's built-in chain, jumps and
 * gotos, RETURN, the policy. Large chains are walked through a destination index (the result is
 * the same as the linear walk; only rules that cannot match are skipped).
 */
import type { EvalEnv } from './eval-env.js';
import type { IptRule } from './ipt-rule.js';
import { type IptChain, IptablesRuleset, type IptTable } from './ipt-ruleset.js';
import type { IptTarget } from './ipt-targets.js';
import { describePacket } from './packet.js';
import type { HookName, RejectSpec } from './types.js';

export type TableOutcome =
  | { kind: 'accept' }
  | { kind: 'drop'; by: string }
  | { kind: 'reject'; reject: RejectSpec; by: string }
  | { kind: 'nat'; rule: IptRule; target: Extract<IptTarget, { kind: 'nat' }> };

function lowerBound(a: number[], from: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < a.length ? a[lo] : Number.POSITIVE_INFINITY;
}

function nextPosition(c: IptChain, env: EvalEnv, from: number): number {
  const idx = IptablesRuleset.index(c);
  if (!idx) return from < c.rules.length ? from : -1;
  const bucket = idx.byDst.get(env.dst);
  const a = bucket ? lowerBound(bucket, from) : Number.POSITIVE_INFINITY;
  const b = lowerBound(idx.wild, from);
  const n = Math.min(a, b);
  return n === Number.POSITIVE_INFINITY ? -1 : n;
}

function actionText(t: IptTarget): string {
  switch (t.kind) {
    case 'accept':
      return 'ACCEPT';
    case 'drop':
      return 'DROP';
    case 'return':
      return 'RETURN';
    case 'jump':
      return `${t.goto ? 'goto' : 'jump'} ${t.chain}`;
    case 'reject':
      return `REJECT --reject-with ${t.reject.name}`;
    case 'nat':
      return t.text;
    case 'mark':
      return t.text;
    case 'log':
      return 'LOG';
    case 'notrack':
      return 'NOTRACK';
    case 'none':
      return 'match';
  }
}

export function runIptablesTable(table: IptTable, hook: HookName, env: EvalEnv): TableOutcome {
  const base = table.chains.get(hook);
  if (!base) return { kind: 'accept' };
  const stack: { chain: IptChain; pos: number }[] = [];
  let chain = base;
  let pos = 0;
  const len = env.pkt.length ?? 60;
  for (;;) {
    const i = nextPosition(chain, env, pos);
    if (i < 0) {
      const frame = stack.pop();
      if (frame) {
        chain = frame.chain;
        pos = frame.pos;
        continue;
      }
      return policy(table, base, hook, env, len);
    }
    pos = i + 1;
    const rule = chain.rules[i];
    env.rule = rule.text;
    let ok = true;
    const ms = rule.matches;
    for (let k = 0; k < ms.length; k++) {
      if (!ms[k](env)) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    rule.packets++;
    rule.bytes += len;
    const t = rule.target;
    env.trace?.({
      kind: 'rule',
      hook,
      family: env.family,
      engine: 'iptables',
      table: table.name,
      chain: chain.name,
      rule: rule.text,
      source: rule.source,
      line: rule.line,
      action: actionText(t),
    });
    switch (t.kind) {
      case 'accept':
        return { kind: 'accept' };
      case 'drop':
        return { kind: 'drop', by: `${table.name} ${chain.name}: ${rule.text}` };
      case 'reject':
        return { kind: 'reject', reject: t.reject, by: `${table.name} ${chain.name}: ${rule.text}` };
      case 'nat':
        return { kind: 'nat', rule, target: t };
      case 'return': {
        const frame = stack.pop();
        if (!frame) return policy(table, base, hook, env, len);
        chain = frame.chain;
        pos = frame.pos;
        break;
      }
      case 'jump': {
        const next = table.chains.get(t.chain);
        if (!next) continue;
        if (!t.goto) stack.push({ chain, pos });
        chain = next;
        pos = 0;
        break;
      }
      case 'mark':
        env.pkt.mark = ((env.pkt.mark & ~t.mask) ^ t.value) >>> 0;
        break;
      case 'log':
        env.trace?.({ kind: 'log', hook, prefix: t.prefix, level: t.level, packet: describePacket(env.pkt) });
        break;
      case 'notrack':
        env.notrack = true;
        break;
      case 'none':
        break;
    }
  }
}

function policy(table: IptTable, base: IptChain, hook: HookName, env: EvalEnv, len: number): TableOutcome {
  base.packets++;
  base.bytes += len;
  env.rule = undefined;
  if (base.policy === 'DROP') {
    env.trace?.({
      kind: 'policy',
      hook,
      engine: 'iptables',
      table: table.name,
      chain: base.name,
      policy: 'DROP',
    });
    return { kind: 'drop', by: `${table.name} ${base.name} policy DROP` };
  }
  return { kind: 'accept' };
}
