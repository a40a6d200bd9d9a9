/** Small deterministic helpers shared by plugins and backends (no I/O, no randomness). */

/** FNV-1a 64-bit hash of a string, as a bigint. */
export function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i) & 0xff);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    if (text.charCodeAt(i) > 0xff) {
      h ^= BigInt(text.charCodeAt(i) >> 8);
      h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    }
  }
  return h;
}

/** A locally administered unicast MAC derived from `seed` (same seed, same MAC). */
export function deterministicMac(seed: string): string {
  const h = fnv1a64(seed);
  const bytes: number[] = [];
  for (let i = 0; i < 6; i++) bytes.push(Number((h >> BigInt(8 * i)) & 0xffn));
  bytes[0] = (bytes[0] & 0xfe) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Sort by a string key, stable and locale-independent. */
export function sortBy<T>(items: readonly T[], key: (t: T) => string): T[] {
  return [...items].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** JSON with object keys sorted, for stable machine output. */
export function stableJson(value: unknown, indent = 2): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value instanceof Uint8Array) return Array.from(value);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The first `chars` characters of Go's base32.StdEncoding of `bytes` (kube-proxy's chain-name hashes). */
export function base32Prefix(bytes: Uint8Array, chars: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
      if (out.length === chars) return out;
    }
  }
  if (bits > 0 && out.length < chars) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}
