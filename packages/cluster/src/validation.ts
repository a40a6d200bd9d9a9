/**
 * Kubernetes name and label rules (apimachinery's validation): each check returns the problem as
 * a message, or undefined when the value is valid.
 */
import {
  type Cidr,
  canonicalIp,
  isIp,
  type LabelSelector,
  type LabelSelectorRequirement,
  parseCidr,
} from '@podnet/core';
import type { Field } from './fields.js';

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function dns1123Label(s: string): string | undefined {
  if (s.length > 63) return `invalid name ${JSON.stringify(s)}: must be at most 63 characters`;
  if (!LABEL.test(s)) {
    return `invalid name ${JSON.stringify(s)}: must be a lowercase RFC 1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)`;
  }
  return undefined;
}

export function dns1123Subdomain(s: string): string | undefined {
  if (s.length > 253) return `invalid name ${JSON.stringify(s)}: must be at most 253 characters`;
  if (!s.split('.').every((l) => l.length <= 63 && LABEL.test(l))) {
    return `invalid name ${JSON.stringify(s)}: must be a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)`;
  }
  return undefined;
}

export function dns1035Label(s: string): string | undefined {
  if (s.length > 63) return `invalid name ${JSON.stringify(s)}: must be at most 63 characters`;
  if (!LABEL_1035.test(s)) {
    return `invalid name ${JSON.stringify(s)}: must be a lowercase RFC 1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit)`;
  }
  return undefined;
}

/** IANA_SVC_NAME, the rule for named container and target ports. */
export function portName(s: string): string | undefined {
  const bad = (why: string) => `invalid port name ${JSON.stringify(s)}: ${why}`;
  if (s.length === 0 || s.length > 15) return bad('must be 1-15 characters');
  if (!/^[a-z0-9-]+$/.test(s)) return bad("must contain only lowercase letters, digits and '-'");
  if (!/[a-z]/.test(s)) return bad('must contain at least one letter');
  if (s.startsWith('-') || s.endsWith('-') || s.includes('--'))
    return bad("must not begin or end with '-' or contain '--'");
  return undefined;
}

export function labelKey(k: string): string | undefined {
  const slash = k.lastIndexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (prefix !== undefined && (prefix.length === 0 || dns1123Subdomain(prefix) !== undefined)) {
    return `invalid label key ${JSON.stringify(k)}: the prefix must be a DNS subdomain`;
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED.test(name)) {
    return `invalid label key ${JSON.stringify(k)}: the name must be 1-63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function labelValue(v: string): string | undefined {
  if (v === '') return undefined;
  if (v.length > 63 || !QUALIFIED.test(v)) {
    return `invalid label value ${JSON.stringify(v)}: must be at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Reads a name-checked string; `rule` is one of the checks above. */
export function checkedString(
  f: Field,
  rule: (s: string) => string | undefined,
  required = false,
): string | undefined {
  const s = f.string(required);
  if (s === undefined) return undefined;
  const problem = rule(s);
  return problem ? f.error(problem) : s;
}

/** Labels (or a map-style selector): keys and values checked. */
export function readLabels(f: Field): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f.stringMap())) {
    const entry = f.key(k);
    const problem = labelKey(k) ?? labelValue(v);
    if (problem) entry.error(problem);
    else out[k] = v;
  }
  return out;
}

/** Annotations: keys checked, values any string. */
export function readAnnotations(f: Field): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f.stringMap())) {
    const problem = labelKey(k);
    if (problem) f.key(k).error(problem.replace('label key', 'annotation key'));
    else out[k] = v;
  }
  return out;
}

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** A metav1.LabelSelector (`matchLabels` + `matchExpressions`). */
export function readLabelSelector(f: Field): LabelSelector {
  const matchLabels = readLabels(f.get('matchLabels'));
  const matchExpressions: LabelSelectorRequirement[] = [];
  for (const e of f.get('matchExpressions').list()) {
    const key = checkedString(e.get('key'), labelKey, true);
    const operator = e.get('operator').string(true);
    const valuesField = e.get('values');
    const values = valuesField.stringList();
    let ok = key !== undefined && operator !== undefined;
    if (operator !== undefined && !(OPERATORS as readonly string[]).includes(operator)) {
      e.get('operator').error(
        `unknown operator ${JSON.stringify(operator)}: must be one of ${OPERATORS.join(', ')}`,
      );
      ok = false;
    } else if ((operator === 'In' || operator === 'NotIn') && values.length === 0) {
      valuesField.error(`must be non-empty for operator ${operator}`);
      ok = false;
    } else if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
      valuesField.error(`must be empty for operator ${operator}`);
      ok = false;
    }
    values.forEach((v, i) => {
      const problem = labelValue(v);
      if (problem) {
        valuesField.list()[i].error(problem);
        ok = false;
      }
    });
    if (ok && key && operator) {
      matchExpressions.push({ key, operator: operator as LabelSelectorRequirement['operator'], values });
    }
  }
  return { matchLabels, matchExpressions };
}

/** The reason a CIDR is refused, or the parsed CIDR. Host bits set is an error (a likely typo). */
export function checkCidr(text: string): { cidr?: Cidr; problem?: string } {
  let loose: Cidr;
  try {
    loose = parseCidr(text);
  } catch (e) {
    return { problem: (e as Error).message.replace(/^cidr: /, '') };
  }
  if (loose.text !== text && parseCidrStrictFails(text)) {
    return {
      problem: `invalid CIDR ${JSON.stringify(text)}: host bits are set (did you mean ${loose.text}?)`,
    };
  }
  return { cidr: loose };
}

function parseCidrStrictFails(text: string): boolean {
  try {
    parseCidr(text, { strict: true });
    return false;
  } catch {
    return true;
  }
}

export function readCidr(f: Field, required = false): Cidr | undefined {
  const s = f.string(required);
  if (s === undefined) return undefined;
  const r = checkCidr(s);
  return r.problem ? f.error(r.problem) : r.cidr;
}

export function readIp(f: Field, required = false): string | undefined {
  const s = f.string(required);
  if (s === undefined) return undefined;
  return isIp(s) ? canonicalIp(s) : f.error(`invalid IP address ${JSON.stringify(s)}`);
}
