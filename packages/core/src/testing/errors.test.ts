import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { podnetErrorOf } from './errors.js';

describe('podnetErrorOf', () => {
  it('returns the PodnetError thrown, rethrows other errors, and fails when nothing is thrown', () => {
    const e = podnetErrorOf(() => {
      throw new InvalidArgumentError('spec.x', 'bad');
    });
    expect(e.code).toBe('PODNET_INVALID_ARGUMENT');
    expect(e.message).toBe('spec.x: bad');
    expect(() => podnetErrorOf(() => JSON.parse('{'))).toThrow(SyntaxError);
    expect(() => podnetErrorOf(() => 1)).toThrow('expected a PodnetError, but nothing was thrown');
  });
});
