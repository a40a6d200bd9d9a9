import { describe, expect, it } from 'vitest';
import { base32Prefix } from './util.js';

describe('base32Prefix', () => {
  it('encodes base32 with the standard alphabet, 5 bits at a time', () => {
    // RFC 4648 test vector: BASE32("foobar") = "MZXW6YTBOI======"
    expect(base32Prefix(new TextEncoder().encode('foobar'), 10)).toBe('MZXW6YTBOI');
    expect(base32Prefix(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]), 8)).toBe('77777777');
  });

  it('stops at `chars`, and pads the last partial group with zero bits', () => {
    expect(base32Prefix(new TextEncoder().encode('foobar'), 3)).toBe('MZX');
    // "f" = 01100110: MY====== in RFC 4648.
    expect(base32Prefix(new TextEncoder().encode('f'), 8)).toBe('MY');
  });
});
