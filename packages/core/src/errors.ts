/**
 * One branded error class for every failure podnet reports. Codes are stable strings (listed in
 * docs/errors.md); callers match on `code` or the subclass, never on message text.
 * `PodnetError.is(e)` works across two copies of this package through a global symbol.
 */
const MARKER = Symbol.for('podnet.error');

export type PodnetErrorCode =
  | 'PODNET_MANIFEST_INVALID'
  | 'PODNET_MANIFEST_UNREADABLE'
  | 'PODNET_PLAN_CONFLICT'
  | 'PODNET_CAPABILITY_UNSUPPORTED'
  | 'PODNET_IPAM_EXHAUSTED'
  | 'PODNET_IPAM_CONFLICT'
  | 'PODNET_IPAM_STORE'
  | 'PODNET_DECODE'
  | 'PODNET_ENCODE'
  | 'PODNET_INVALID_ARGUMENT'
  | 'PODNET_RULE_PARSE'
  | 'PODNET_FEATURE_MISSING'
  | 'PODNET_BACKEND'
  | 'PODNET_NOT_FOUND'
  | 'PODNET_INTERNAL';

export interface PodnetErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class PodnetError extends Error {
  /** Brand checked by `PodnetError.is`, shared by every copy of this package. */
  readonly [MARKER] = true;
  readonly code: PodnetErrorCode;
  readonly retryable: boolean;

  constructor(code: PodnetErrorCode, message: string, options: PodnetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PodnetError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }

  static is(e: unknown): e is PodnetError {
    return typeof e === 'object' && e !== null && MARKER in e;
  }

  /** True when `e` is a podnet error that reports bad user input (CLI exit code 2). */
  static isUserError(e: unknown): e is PodnetError {
    return PodnetError.is(e) && USER_CODES.has(e.code);
  }
}

const USER_CODES = new Set<PodnetErrorCode>([
  'PODNET_MANIFEST_INVALID',
  'PODNET_IPAM_CONFLICT',
  'PODNET_MANIFEST_UNREADABLE',
  'PODNET_PLAN_CONFLICT',
  'PODNET_CAPABILITY_UNSUPPORTED',
  'PODNET_INVALID_ARGUMENT',
  'PODNET_RULE_PARSE',
  'PODNET_FEATURE_MISSING',
  'PODNET_NOT_FOUND',
]);

/** Where in the user's input a problem is: `web.yaml: Service default/web: spec.ports[0].port`. */
export interface InputLocation {
  file: string;
  /** `Kind namespace/name` or `Kind name`; empty when the problem is the file itself. */
  object?: string;
  /** Field path in kubectl's style: `spec.ports[0].port`. */
  field?: string;
}

export function formatLocation(loc: InputLocation): string {
  return [loc.file, loc.object, loc.field].filter((p) => p !== undefined && p !== '').join(': ');
}

/** A manifest that cannot be accepted. The message is one line: file: object: field: problem. */
export class ManifestError extends PodnetError {
  readonly location: InputLocation;
  readonly problem: string;
  constructor(location: InputLocation, problem: string, options?: PodnetErrorOptions) {
    super('PODNET_MANIFEST_INVALID', `${formatLocation(location)}: ${problem}`, options);
    this.name = 'ManifestError';
    this.location = location;
    this.problem = problem;
  }
}

/** Several manifest problems found in one pass; the message lists one per line. */
export class ManifestErrors extends PodnetError {
  readonly errors: readonly ManifestError[];
  constructor(errors: readonly ManifestError[]) {
    super('PODNET_MANIFEST_INVALID', errors.map((e) => e.message).join('\n'));
    this.name = 'ManifestErrors';
    this.errors = errors;
  }
}

/** Two plugins claimed the same device, address or route in one namespace. */
export class PlanConflictError extends PodnetError {
  readonly node: string;
  readonly what: string;
  readonly plugins: readonly string[];
  constructor(node: string, what: string, plugins: readonly string[]) {
    super('PODNET_PLAN_CONFLICT', `node ${node}: ${what} is claimed by both ${plugins.join(' and ')}`);
    this.name = 'PlanConflictError';
    this.node = node;
    this.what = what;
    this.plugins = plugins;
  }
}

/** A plugin declared it cannot serve this cluster (host-gw across an L3 boundary, IPv6 unsupported). */
export class CapabilityError extends PodnetError {
  readonly plugin: string;
  readonly capability: string;
  constructor(plugin: string, capability: string, message: string) {
    super('PODNET_CAPABILITY_UNSUPPORTED', message);
    this.name = 'CapabilityError';
    this.plugin = plugin;
    this.capability = capability;
  }
}

export class IpamExhaustedError extends PodnetError {
  readonly pool: string;
  readonly family: 4 | 6;
  constructor(pool: string, family: 4 | 6, message?: string) {
    super('PODNET_IPAM_EXHAUSTED', message ?? `no free IPv${family} address left in ${pool}`, { retryable: true });
    this.name = 'IpamExhaustedError';
    this.pool = pool;
    this.family = family;
  }
}

/** Bytes that do not decode as the named protocol. */
export class DecodeError extends PodnetError {
  readonly protocol: string;
  readonly offset: number;
  constructor(protocol: string, offset: number, message: string) {
    super('PODNET_DECODE', `${protocol}: ${message} (at byte ${offset})`);
    this.name = 'DecodeError';
    this.protocol = protocol;
    this.offset = offset;
  }
}

export class EncodeError extends PodnetError {
  readonly protocol: string;
  constructor(protocol: string, message: string) {
    super('PODNET_ENCODE', `${protocol}: ${message}`);
    this.name = 'EncodeError';
    this.protocol = protocol;
  }
}

/** A rule file (iptables-restore, nft -f, ipvsadm -R) the interpreter refuses; names the line. */
export class RuleParseError extends PodnetError {
  readonly source: string;
  readonly line: number;
  constructor(source: string, line: number, message: string) {
    super('PODNET_RULE_PARSE', `${source}:${line}: ${message}`);
    this.name = 'RuleParseError';
    this.source = source;
    this.line = line;
  }
}

/** The host lacks something a backend needs (root, a binary, a kernel module). */
export class FeatureMissingError extends PodnetError {
  readonly feature: string;
  constructor(feature: string, message: string) {
    super('PODNET_FEATURE_MISSING', message);
    this.name = 'FeatureMissingError';
    this.feature = feature;
  }
}

export class InvalidArgumentError extends PodnetError {
  readonly argument: string;
  constructor(argument: string, message: string) {
    super('PODNET_INVALID_ARGUMENT', `${argument}: ${message}`);
    this.name = 'InvalidArgumentError';
    this.argument = argument;
  }
}

export class NotFoundError extends PodnetError {
  constructor(message: string) {
    super('PODNET_NOT_FOUND', message);
    this.name = 'NotFoundError';
  }
}
