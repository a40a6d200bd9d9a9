import { PodnetError } from '../errors.js';

/** The PodnetError `f` throws; anything else it throws is rethrown, and throwing nothing is a failure. */
export function podnetErrorOf(f: () => unknown): PodnetError {
  try {
    f();
  } catch (e) {
    if (PodnetError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a PodnetError, but nothing was thrown');
}
