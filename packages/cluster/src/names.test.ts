import { describe, expect, it } from 'vitest';
import {
  deterministicUid,
  fnv1a32,
  generateNames,
  nameSuffix,
  podTemplateHash,
  SAFE_ALPHABET,
  safeEncode,
} from './names.js';

describe('controller names', () => {
  it('fnv1a32 matches the FNV-1a reference vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('safeEncode maps bytes into the safe alphabet as apimachinery does', () => {
    expect(SAFE_ALPHABET).toHaveLength(27);
    expect(safeEncode('0123456789')).toBe('456789bcdf');
  });

  it('podTemplateHash is the safe encoding of the decimal hash and ignores key order', () => {
    const a = podTemplateHash({
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web' }] },
    });
    const b = podTemplateHash({
      spec: { containers: [{ name: 'web' }] },
      metadata: { labels: { app: 'web' } },
    });
    expect(a).toBe(b);
    expect(a).toMatch(/^[456789bcdf]{1,10}$/);
  });

  it('suffixes are 5 safe characters, stable, and unique per owner even against taken names', () => {
    expect(nameSuffix('x')).toBe(nameSuffix('x'));
    expect(nameSuffix('x')).toMatch(new RegExp(`^[${SAFE_ALPHABET}]{5}$`));
    const first = generateNames('web-', ['s1'])[0];
    const names = generateNames('web-', ['s1', 's2', 's3'], new Set([first.slice(4)].map((s) => `web-${s}`)));
    expect(names).not.toContain(first);
    expect(new Set(names).size).toBe(3);
  });

  it('uids are UUID-shaped and derived from the identity', () => {
    const uid = deterministicUid('Pod', 'default', 'a');
    expect(uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uid).toBe(deterministicUid('Pod', 'default', 'a'));
    expect(uid).not.toBe(deterministicUid('Pod', 'default', 'b'));
  });
});
