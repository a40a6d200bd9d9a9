/** Runs one nftables base chain for a packet: rules, jump/goto/return, verdict maps, the policy. */
import type { EvalEnv } from './eval-env.js';
import type { NatStmt, NftEnv } from './nft-expr.js';
import type { NftChain, NftRule, NftTable } from './nft-ruleset.js';
import { verdictText } from './nft-set.js';
import type { RejectSpec } from './types.js';

export type NftOutcome =
  | { kind: 'accept' }
  | { kind: 'drop'; by: string }
  | { kind: 'reject'; reject: RejectSpec; by: string }
  | { kind: 'nat'; stmt: NatStmt; rule: NftRule; chain: string };

function describe(t: NftTable, c: NftChain, r: NftRule): string {
  return `${t.family} ${t.name} ${c.name}: ${r.text}`;
}

export function runNftChain(table: NftTable, base: NftChain, env: EvalEnv): NftOutcome {
  const nenv = env as NftEnv;
  nenv.sets = table.sets;
  const stack: { chain: NftChain; pos: number }[] = [];
  let chain = base;
  let pos = 0;
  const len = env.pkt.length ?? 60;
  for (;;) {
    if (pos >= chain.rules.length) {
      const frame = stack.pop();
      if (frame) {
        chain = frame.chain;
        pos = frame.pos;
        continue;
      }
      return policy(table, base, env);
    }
    const rule = chain.rules[pos++];
    nenv.ruleState = rule.state;
    env.rule = rule.text;
    let res: Exclude<ReturnType<NftRule['compiled']['ops'][number]>, false> | undefined;
    let matched = true;
    const ops = rule.compiled.ops;
    // counters and side effects happen as ops run; a `false` stops the rule.
    for (let k = 0; k < ops.length; k++) {
      const r = ops[k](nenv);
      if (r === false) {
        matched = false;
        break;
      }
      if (r !== undefined) {
        res = r;
        break;
      }
    }
    if (!matched) continue;
    rule.state.packets++;
    rule.state.bytes += len;
    const action = res === undefined ? 'match' : res.kind === 'nat' ? res.text : verdictText(res);
    env.trace?.({
      kind: 'rule',
      hook: env.hook,
      family: env.family,
      engine: 'nft',
      table: `${table.family} ${table.name}`,
      chain: chain.name,
      rule: rule.text,
      source: rule.source,
      line: rule.line,
      action,
    });
    if (res === undefined) continue;
    switch (res.kind) {
      case 'accept':
        return { kind: 'accept' };
      case 'drop':
        return { kind: 'drop', by: describe(table, chain, rule) };
      case 'reject':
        return { kind: 'reject', reject: res.reject, by: describe(table, chain, rule) };
      case 'nat':
        return { kind: 'nat', stmt: res, rule, chain: chain.name };
      case 'continue':
        continue;
      case 'return': {
        const frame = stack.pop();
        if (!frame) return policy(table, base, env);
        chain = frame.chain;
        pos = frame.pos;
        continue;
      }
      case 'jump':
      case 'goto': {
        const next = table.chains.get(res.chain);
        if (!next) continue;
        if (res.kind === 'jump') stack.push({ chain, pos });
        chain = next;
        pos = 0;
        continue;
      }
    }
  }
}

function policy(table: NftTable, base: NftChain, env: EvalEnv): NftOutcome {
  base.packets++;
  base.bytes += env.pkt.length ?? 60;
  env.rule = undefined;
  if (base.base?.policy === 'drop') {
    env.trace?.({
      kind: 'policy',
      hook: env.hook,
      engine: 'nft',
      table: `${table.family} ${table.name}`,
      chain: base.name,
      policy: 'drop',
    });
    return { kind: 'drop', by: `${table.family} ${table.name} ${base.name} policy drop` };
  }
  return { kind: 'accept' };
}
