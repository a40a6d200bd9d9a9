/** Argument parsing that reports bad input as typed podnet errors naming the argument. */
import {
  type Cidr,
  InvalidArgumentError,
  type IpFamily,
  PodnetError,
  isIp,
  parseCidr,
  parseIp,
} from '@podnet/core';

export function cidrArg(argument: string, text: unknown): Cidr {
  if (typeof text !== 'string')
    throw new InvalidArgumentError(argument, `expected a CIDR string, got ${describe(text)}`);
  try {
    return parseCidr(text.trim());
  } catch {
    throw new InvalidArgumentError(argument, `invalid CIDR "${text}"`);
  }
}

export function ipArg(argument: string, text: unknown): { family: IpFamily; value: bigint; text: string } {
  if (typeof text !== 'string' || !isIp(text.trim())) {
    throw new InvalidArgumentError(
      argument,
      `invalid IP address ${typeof text === 'string' ? `"${text}"` : describe(text)}`,
    );
  }
  return parseIp(text.trim());
}

export function nonEmptyString(argument: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidArgumentError(argument, `expected a non-empty string, got ${describe(value)}`);
  }
  return value;
}

export function integerArg(argument: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(argument, `must be an integer ${min}-${max}, got ${describe(value)}`);
  }
  return value;
}

/** An address or port that is already taken (CNI: the requested IP is not available). */
export function ipamConflict(message: string): PodnetError {
  return new PodnetError('PODNET_IPAM_CONFLICT', message);
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (value === null || value === undefined || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
