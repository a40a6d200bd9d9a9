import { EncodeError } from '../errors.js';

// Address text <-> bytes for the codecs. Parsers return undefined on bad text so each codec can
// raise its own typed error; formatters always succeed.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;
const OCTET = /^(?:0|[1-9]\d{0,2})$/;
const GROUP = /^[0-9a-f]{1,4}$/i;

export function parseMac(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || !MAC.test(text)) return undefined;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = Number.parseInt(text.slice(i * 3, i * 3 + 2), 16);
  return out;
}

export function formatMac(b: Uint8Array, o = 0): string {
  return `${HEX[b[o]]}:${HEX[b[o + 1]]}:${HEX[b[o + 2]]}:${HEX[b[o + 3]]}:${HEX[b[o + 4]]}:${HEX[b[o + 5]]}`;
}

export function parseIpv4(text: string): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!OCTET.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

export function formatIpv4(b: Uint8Array, o = 0): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

function groups(parts: string[], words: number[], v4Last: boolean): boolean {
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (v4Last && i === parts.length - 1 && p.includes('.')) {
      const v4 = parseIpv4(p);
      if (v4 === undefined) return false;
      words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (GROUP.test(p)) {
      words.push(Number.parseInt(p, 16));
    } else {
      return false;
    }
  }
  return true;
}

/** Parses any RFC 4291 text form (compressed, uppercase, trailing dotted quad); no zone index. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length < 2 || text.length > 45) return undefined;
  const gap = text.indexOf('::');
  const head: number[] = [];
  const tail: number[] = [];
  if (gap === -1) {
    if (!groups(text.split(':'), head, true) || head.length !== 8) return undefined;
  } else {
    if (text.indexOf('::', gap + 1) !== -1) return undefined;
    const before = text.slice(0, gap);
    const after = text.slice(gap + 2);
    if (before !== '' && !groups(before.split(':'), head, false)) return undefined;
    if (after !== '' && !groups(after.split(':'), tail, true)) return undefined;
    if (head.length + tail.length > 7) return undefined;
  }
  const out = new Uint8Array(16);
  head.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w;
  });
  const start = 8 - tail.length;
  tail.forEach((w, i) => {
    out[(start + i) * 2] = w >> 8;
    out[(start + i) * 2 + 1] = w;
  });
  return out;
}

/** RFC 5952 text: lowercase, no leading zeros, the first longest run (2+) of zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`. */
export function formatIpv6(b: Uint8Array, o = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[o + i * 2] << 8) | b[o + i * 2 + 1]);
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${formatIpv4(b, o + 12)}`;
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((x) => x.toString(16)).join(':');
  if (best === -1) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

export function writeMac(protocol: string, field: string, text: string, buf: Uint8Array, o: number): void {
  const b = parseMac(text);
  if (b === undefined) throw new EncodeError(protocol, `${field}: not a MAC address: ${String(text)}`);
  buf.set(b, o);
}

export function writeIpv4(protocol: string, field: string, text: string, buf: Uint8Array, o: number): void {
  const b = parseIpv4(text);
  if (b === undefined) throw new EncodeError(protocol, `${field}: not an IPv4 address: ${String(text)}`);
  buf.set(b, o);
}

export function writeIpv6(protocol: string, field: string, text: string, buf: Uint8Array, o: number): void {
  const b = parseIpv6(text);
  if (b === undefined) throw new EncodeError(protocol, `${field}: not an IPv6 address: ${String(text)}`);
  buf.set(b, o);
}
