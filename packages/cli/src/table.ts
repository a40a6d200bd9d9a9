/**
 * Plain-text tables aligned as kubectl's tabwriter aligns them: each column as wide as its widest
 * cell plus 3 spaces (at least 6), the last column unpadded, no trailing spaces.
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const cols = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, c) =>
    Math.max(6, ...rows.map((r) => (r[c] ?? '').length + 3)),
  );
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c])))
        .join('')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** `ip:port`, bracketing IPv6 addresses. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
