import {
  formatLocation,
  type InputLocation,
  ManifestError,
  ManifestErrors,
  type ManifestWarning,
} from '@podnet/core';

/** Where an object came from, for messages: `web.yaml` and `Service default/web`. */
export interface Source {
  file: string;
  object: string;
}

/** Collects the errors and warnings of one load; identical messages are reported once. */
export class Issues {
  readonly errors: ManifestError[] = [];
  readonly warnings: ManifestWarning[] = [];
  private readonly seen = new Set<string>();

  error(location: InputLocation, problem: string): void {
    const e = new ManifestError(location, problem);
    if (this.seen.has(e.message)) return;
    this.seen.add(e.message);
    this.errors.push(e);
  }

  warn(location: InputLocation, message: string): void {
    const key = `warning ${formatLocation(location)}: ${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const w: ManifestWarning = { file: location.file, message };
    if (location.object) w.object = location.object;
    if (location.field) w.field = location.field;
    this.warnings.push(w);
  }

  at(source: Source, field: string, problem: string): void {
    this.error({ file: source.file, object: source.object, field }, problem);
  }

  warnAt(source: Source, field: string, message: string): void {
    this.warn({ file: source.file, object: source.object, field }, message);
  }

  throwIfErrors(): void {
    if (this.errors.length > 0) throw new ManifestErrors(this.errors);
  }
}
