/** v1 Secret: `data` (base64) and `stringData` resolved to bytes. */
import type { ObjectContext } from './object-context.js';

const KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function parseSecret(ctx: ObjectContext): void {
  const { root } = ctx;
  const type = root.get('type').string() ?? 'Opaque';
  const data: Record<string, Uint8Array> = {};
  for (const [k, f] of root.get('data').entries()) {
    if (!KEY.test(k)) {
      f.error(`invalid key ${JSON.stringify(k)}: must consist of letters, digits, '-', '_' or '.'`);
      continue;
    }
    const s = f.present ? f.string() : '';
    if (s === undefined) continue;
    const compact = s.replace(/\s+/g, '');
    if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
      f.error('must be base64 (use stringData for plain text)');
      continue;
    }
    data[k] = new Uint8Array(Buffer.from(compact, 'base64'));
  }
  for (const [k, f] of root.get('stringData').entries()) {
    if (!KEY.test(k)) {
      f.error(`invalid key ${JSON.stringify(k)}: must consist of letters, digits, '-', '_' or '.'`);
      continue;
    }
    const s = f.present ? f.string() : '';
    if (s !== undefined) data[k] = new Uint8Array(Buffer.from(s, 'utf8'));
  }
  if (type === 'kubernetes.io/tls') {
    for (const k of ['tls.crt', 'tls.key'])
      if (!data[k]) root.get('data').key(k).error('required for type kubernetes.io/tls');
  }
  ctx.drafts.secrets.push({
    source: ctx.source,
    info: { namespace: ctx.namespace, name: ctx.name, type, data },
  });
}
