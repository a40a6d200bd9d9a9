/**
 * A typed reader over a parsed manifest that records every problem with its kubectl-style field
 * path (`spec.ports[0].port`) instead of throwing. Readers return `undefined` after reporting, so
 * parsers read on and one load reports all problems at once.
 */
import type { Issues } from './issues.js';

export interface Scope {
  readonly file: string;
  readonly object: string;
  readonly issues: Issues;
}

export function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** How a value reads in a message: `string "80"`, `number 80`, `a list`. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint')
    return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return `timestamp ${v.toISOString()}`;
  if (isMapping(v)) return 'an object';
  return String(v);
}

export interface IntOptions {
  required?: boolean;
  min?: number;
  max?: number;
}

export class Field {
  constructor(
    readonly scope: Scope,
    readonly path: string,
    readonly value: unknown,
  ) {}

  /** Set and not null (YAML `key:` with no value reads as absent, as in Kubernetes). */
  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  get(key: string): Field {
    return new Field(this.scope, this.path ? `${this.path}.${key}` : key, this.mapping()?.[key]);
  }

  /** A map entry, `metadata.labels[app]`. */
  key(k: string): Field {
    return new Field(this.scope, `${this.path}[${k}]`, this.mapping()?.[k]);
  }

  error(problem: string): undefined {
    this.scope.issues.error({ file: this.scope.file, object: this.scope.object, field: this.path }, problem);
    return undefined;
  }

  warn(message: string): void {
    this.scope.issues.warn({ file: this.scope.file, object: this.scope.object, field: this.path }, message);
  }

  required(): boolean {
    if (this.present) return true;
    this.error('required');
    return false;
  }

  mapping(required = false): Record<string, unknown> | undefined {
    if (!this.present) return required ? this.error('required') : undefined;
    if (isMapping(this.value)) return this.value;
    return this.error(`must be an object, got ${describe(this.value)}`);
  }

  string(required = false): string | undefined {
    if (!this.present) return required ? this.error('required') : undefined;
    if (typeof this.value === 'string') {
      if (required && this.value === '') return this.error('required');
      return this.value;
    }
    return this.error(`must be a string, got ${describe(this.value)}`);
  }

  int(options: IntOptions = {}): number | undefined {
    if (!this.present) return options.required ? this.error('required') : undefined;
    if (typeof this.value !== 'number' || !Number.isInteger(this.value)) {
      return this.error(`must be an integer, got ${describe(this.value)}`);
    }
    const { min, max } = options;
    if ((min !== undefined && this.value < min) || (max !== undefined && this.value > max)) {
      if (min !== undefined && max !== undefined) return this.error(`must be ${min}-${max}`);
      if (min !== undefined) return this.error(`must be >= ${min}`);
      return this.error(`must be <= ${max}`);
    }
    return this.value;
  }

  bool(): boolean | undefined {
    if (!this.present) return undefined;
    if (typeof this.value === 'boolean') return this.value;
    return this.error(`must be true or false, got ${describe(this.value)}`);
  }

  /** One of `values` (exact spelling); `fallback` when absent. */
  oneOf<T extends string>(values: readonly T[], fallback?: T): T | undefined {
    const s = this.string();
    if (s === undefined) return this.present ? undefined : fallback;
    if ((values as readonly string[]).includes(s)) return s as T;
    return this.error(`unsupported value ${JSON.stringify(s)}: must be one of ${values.join(', ')}`);
  }

  list(required = false): Field[] {
    if (!this.present) {
      if (required) this.error('required');
      return [];
    }
    if (!Array.isArray(this.value)) {
      this.error(`must be a list, got ${describe(this.value)}`);
      return [];
    }
    return this.value.map((v, i) => new Field(this.scope, `${this.path}[${i}]`, v));
  }

  stringList(): string[] {
    const out: string[] = [];
    for (const f of this.list()) {
      const s = f.string(true);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  entries(): [string, Field][] {
    const m = this.mapping();
    if (!m) return [];
    return Object.keys(m).map((k) => [k, this.key(k)]);
  }

  /** A map of strings (labels, annotations, nodeSelector). */
  stringMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, f] of this.entries()) {
      if (!f.present) {
        out[k] = '';
        continue;
      }
      const s = f.string();
      if (s !== undefined) out[k] = s;
    }
    return out;
  }

  /** Keys of this mapping that are not in `known`, each warned about as an unknown field. */
  warnUnknown(known: readonly string[]): void {
    for (const k of Object.keys(this.mapping() ?? {}))
      if (!known.includes(k)) this.get(k).warn('unknown field (ignored)');
  }
}
