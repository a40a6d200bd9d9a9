/**
 * Deterministic stand-ins for the names Kubernetes controllers generate. The controllers draw
 * random suffixes; podnet derives them from a hash of what they name, in the same alphabet
 * (apimachinery's rand: consonants and digits that cannot spell words), so the same manifests
 * always give the same names.
 */
import { fnv1a64 } from '@podnet/core';

/** apimachinery `rand` alphabet: no vowels, no 0/1/3 (no accidental words, no look-alikes). */
export const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** FNV-1a 32-bit over the UTF-8 bytes of `text` (the hash kube's controllers use). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** apimachinery `rand.SafeEncodeString`: each byte mapped into the safe alphabet. */
export function safeEncode(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) out += SAFE_ALPHABET[text.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/** JSON with sorted keys: a canonical text to hash. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** `pod-template-hash` as the Deployment controller writes it: SafeEncodeString(decimal FNV-32a). */
export function podTemplateHash(template: unknown): string {
  return safeEncode(String(fnv1a32(canonicalJson(template))));
}

/** A `generateName` suffix: `length` characters of the safe alphabet derived from `seed`. */
export function nameSuffix(seed: string, length = 5): string {
  let h = fnv1a64(seed);
  const n = BigInt(SAFE_ALPHABET.length);
  let out = '';
  for (let i = 0; i < length; i++) {
    out += SAFE_ALPHABET[Number(h % n)];
    h /= n;
  }
  return out;
}

/**
 * Suffixed names for `count` objects made by one owner (`<prefix><suffix>`), unique among
 * themselves and not in `taken`; a colliding hash is re-derived with a counter, as the controller
 * would retry a name the API server refused.
 */
export function generateNames(
  prefix: string,
  seeds: string[],
  taken: ReadonlySet<string> = new Set(),
): string[] {
  const used = new Set(taken);
  return seeds.map((seed) => {
    let name = `${prefix}${nameSuffix(seed)}`;
    for (let retry = 1; used.has(name); retry++) name = `${prefix}${nameSuffix(`${seed}#${retry}`)}`;
    used.add(name);
    return name;
  });
}

/** A UUID-shaped uid derived from the object's identity. */
export function deterministicUid(kind: string, namespace: string, name: string): string {
  const a = fnv1a64(`${kind}/${namespace}/${name}`).toString(16).padStart(16, '0');
  const b = fnv1a64(`uid:${kind}/${namespace}/${name}`).toString(16).padStart(16, '0');
  const hex = a + b;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
