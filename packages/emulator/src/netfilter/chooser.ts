/**
 * Choosers for stand-alone use of the netfilter model: a seeded sampler (takes a deterministic
 * decision's preferred branch) and an enumerator that runs a function once per combination of
 * choices, with the probability of each path.
 */
import type { ChoiceOption, Chooser } from './types.js';

/** Samples by probability with a seeded generator; deterministic decisions take `preferred`. */
export function seededChooser(seed = 1): Chooser {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    choose(options: readonly ChoiceOption[]): number {
      const pref = options.findIndex((o) => o.preferred);
      if (pref >= 0) return pref;
      let r = next();
      for (let i = 0; i < options.length; i++) {
        r -= options[i].probability;
        if (r < 0) return i;
      }
      return options.length - 1;
    },
  };
}

export interface EnumeratedPath<R> {
  probability: number;
  /** The label of each choice taken, in order. */
  choices: string[];
  /** The option index of each choice taken (replay them with `replayChooser`). */
  indices: number[];
  result: R;
}

/** Takes the given option indices in order (then the first option). */
export function replayChooser(indices: readonly number[]): Chooser {
  let k = 0;
  return { choose: () => indices[k++] ?? 0 };
}

/**
 * Runs `fn` once per path through its random choices (branches of probability 0 are skipped)
 * and returns every path with its probability. `fn` must leave state as it found it (roll back
 * with the undo log it is given) so every path starts alike.
 */
export function enumeratePaths<R>(fn: (chooser: Chooser) => R, limit = 4096): EnumeratedPath<R>[] {
  const out: EnumeratedPath<R>[] = [];
  let prefix: number[] = [];
  for (;;) {
    const taken: { index: number; options: readonly ChoiceOption[] }[] = [];
    const chooser: Chooser = {
      choose(options) {
        const d = taken.length;
        let i = d < prefix.length ? prefix[d] : options.findIndex((o) => o.probability > 0);
        if (i < 0) i = 0;
        taken.push({ index: i, options });
        return i;
      },
    };
    const result = fn(chooser);
    out.push({
      probability: taken.reduce((p, t) => p * t.options[t.index].probability, 1),
      choices: taken.map((t) => t.options[t.index].label ?? String(t.index)),
      indices: taken.map((t) => t.index),
      result,
    });
    if (out.length >= limit) throw new RangeError(`more than ${limit} paths`);
    // next combination: advance the deepest choice that has another non-zero branch
    let d = taken.length - 1;
    for (; d >= 0; d--) {
      const { index, options } = taken[d];
      let n = index + 1;
      while (n < options.length && options[n].probability <= 0) n++;
      if (n < options.length) {
        prefix = [...taken.slice(0, d).map((t) => t.index), n];
        break;
      }
    }
    if (d < 0) return out;
  }
}
