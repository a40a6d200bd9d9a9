/**
 * Tokens of `nft -f` input: words, quoted strings and the punctuation `{ } , ; @ .` (a `.` only
 * when it stands alone: it joins concatenations; inside a word it is part of an address). A word
 * ending in `:` loses it (`{ 0: goto x }`) unless the colon belongs to an IPv6 address.
 */
import { isIp } from '@podnet/core';

export interface Token {
  kind: 'word' | 'string' | 'punct' | 'nl';
  value: string;
  line: number;
}

export class LexError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

function isPunct(c: number): boolean {
  // { } , ; @
  return c === 123 || c === 125 || c === 44 || c === 59 || c === 64;
}

/** Reads tokens one at a time (a large file is never held as one token array). */
export class Lexer {
  private i = 0;
  private line = 1;
  private pending: Token | undefined;
  constructor(private readonly text: string) {}

  next(): Token | undefined {
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      return p;
    }
    const text = this.text;
    const n = text.length;
    let i = this.i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 10) {
        const t: Token = { kind: 'nl', value: '\n', line: this.line };
        this.line++;
        this.i = i + 1;
        return t;
      }
      if (c === 32 || c === 9 || c === 13) {
        i++;
        continue;
      }
      if (c === 92 && text.charCodeAt(i + 1) === 10) {
        this.line++;
        i += 2;
        continue;
      }
      if (c === 35) {
        while (i < n && text.charCodeAt(i) !== 10) i++;
        continue;
      }
      const line = this.line;
      if (c === 34) {
        let j = i + 1;
        let s = '';
        let seg = j;
        while (j < n && text.charCodeAt(j) !== 34) {
          const d = text.charCodeAt(j);
          if (d === 10) throw new LexError(line, 'unterminated string');
          if (d === 92 && j + 1 < n) {
            s += text.slice(seg, j);
            seg = j + 1;
            j += 2;
            continue;
          }
          j++;
        }
        if (j >= n) throw new LexError(line, 'unterminated string');
        s += text.slice(seg, j);
        this.i = j + 1;
        return { kind: 'string', value: s, line };
      }
      if (isPunct(c)) {
        this.i = i + 1;
        return { kind: 'punct', value: text[i], line };
      }
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 32 || d === 9 || d === 10 || d === 13 || d === 34 || d === 35 || isPunct(d)) break;
        j++;
      }
      const w = text.slice(i, j);
      this.i = j;
      if (w.length === 1 && (w === ':' || w === '.')) return { kind: 'punct', value: w, line };
      if (w.length > 1 && w.charCodeAt(w.length - 1) === 58 && !isIp(w)) {
        this.pending = { kind: 'punct', value: ':', line };
        return { kind: 'word', value: w.slice(0, -1), line };
      }
      return { kind: 'word', value: w, line };
    }
    this.i = i;
    return undefined;
  }
}

/** Every token of a text. */
export function tokenize(text: string): Token[] {
  const lx = new Lexer(text);
  const out: Token[] = [];
  for (let t = lx.next(); t; t = lx.next()) out.push(t);
  return out;
}
