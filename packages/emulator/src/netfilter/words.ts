/**
 * Splits a rule line into words the way iptables-restore does: whitespace separates, double quotes
 * group (a backslash inside quotes escapes the next character). Single quotes are ordinary
 * characters, as in iptables-restore.
 */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  const n = line.length;
  let i = 0;
  while (i < n) {
    let c = line.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13) {
      i++;
      continue;
    }
    // one word: unquoted runs and quoted runs until unquoted whitespace
    let word = '';
    let start = i;
    while (i < n) {
      c = line.charCodeAt(i);
      if (c === 32 || c === 9 || c === 13) break;
      if (c !== 34) {
        i++;
        continue;
      }
      word += line.slice(start, i);
      i++;
      let seg = i;
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted string');
        const q = line.charCodeAt(i);
        if (q === 34) break;
        if (q === 92 && i + 1 < n) {
          word += line.slice(seg, i);
          seg = i + 1;
          i += 2;
          continue;
        }
        i++;
      }
      word += line.slice(seg, i);
      i++;
      start = i;
    }
    out.push(word + line.slice(start, i));
  }
  return out;
}
