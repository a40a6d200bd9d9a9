/** The CNI face of the host-local allocator: network config in, ADD result out (SPEC 0.3.0–1.x). */
import { InvalidArgumentError, type IpamAllocation, PodnetError } from '@podnet/core';
import { describe } from './args.js';
import { DEFAULT_DATA_DIR } from './file-store.js';
import type { CniRoute, HostLocalOptions } from './host-local.js';
import type { RangeSetConfig } from './range-set.js';

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  ips: { version?: '4' | '6'; address: string; gateway?: string }[];
  routes?: CniRoute[];
  dns: CniDns;
}

export interface CniResultOptions {
  /** @default '1.0.0' */
  cniVersion?: string;
  /** @default [] (omitted from the result) */
  routes?: readonly CniRoute[];
  /** @default {} */
  dns?: CniDns;
}

function versionBefore1(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!m) throw new InvalidArgumentError('cniVersion', `"${version}" is not a version`);
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major === 0 && minor < 3)
    throw new InvalidArgumentError('cniVersion', `${version} is not supported (0.3.0 or later)`);
  return major === 0;
}

/**
 * An IPAM ADD result shaped as host-local prints it: `{cniVersion, ips: [{address, gateway}],
 * routes?, dns: {}}`; before 1.0.0 each ip also carries `version`.
 */
export function toCniResult(
  allocations: readonly IpamAllocation[],
  options: CniResultOptions = {},
): CniResult {
  const cniVersion = options.cniVersion ?? '1.0.0';
  const old = versionBefore1(cniVersion);
  const ips = allocations.map((a) => ({
    ...(old ? { version: String(a.family) as '4' | '6' } : {}),
    address: a.address,
    ...(a.gateway === undefined ? {} : { gateway: a.gateway }),
  }));
  const routes =
    options.routes && options.routes.length > 0 ? { routes: options.routes.map((r) => ({ ...r })) } : {};
  return { cniVersion, ips, ...routes, dns: { ...(options.dns ?? {}) } };
}

export interface CniError {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/**
 * A failure as a CNI error result (docs/errors.md): exhaustion → 11 (try again later), bad input →
 * 7 (invalid network config), a missing host feature → 4, anything else → 999 as host-local does.
 */
export function toCniError(error: unknown, cniVersion = '1.0.0'): CniError {
  const code = !PodnetError.is(error)
    ? 999
    : error.code === 'PODNET_IPAM_EXHAUSTED'
      ? 11
      : error.code === 'PODNET_INVALID_ARGUMENT' || error.code === 'PODNET_MANIFEST_INVALID'
        ? 7
        : error.code === 'PODNET_FEATURE_MISSING'
          ? 4
          : 999;
  return { cniVersion, code, msg: error instanceof Error ? error.message : String(error) };
}

export interface CniInvocation {
  /** Options for hostLocal(): the file store under the config's dataDir, named by the network. */
  options: HostLocalOptions & { store: 'file'; network: string; dataDir: string };
  /** Requested addresses: CNI_ARGS `IP=`, then `args.cni.ips`, then `runtimeConfig.ips`. */
  ips: string[];
  cniVersion: string;
}

function asObject(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(at, `expected an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function stringList(value: unknown, at: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new InvalidArgumentError(at, `expected an array of strings, got ${describe(value)}`);
  }
  return value.map((v) => (v.includes('/') ? v.slice(0, v.indexOf('/')) : v));
}

/**
 * Reads a CNI network config (JSON text or parsed) the way host-local does: ranges from
 * `runtimeConfig.ipRanges`, then the old-style single range, then `ipam.ranges`.
 */
export function parseCniConfig(config: unknown, cniArgs = ''): CniInvocation {
  let net: Record<string, unknown>;
  try {
    net = asObject(typeof config === 'string' ? JSON.parse(config) : config, 'config');
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    throw new InvalidArgumentError('config', `not JSON: ${(e as Error).message}`);
  }
  const cniVersion = typeof net.cniVersion === 'string' ? net.cniVersion : '0.3.0';
  versionBefore1(cniVersion);
  if (typeof net.name !== 'string' || net.name === '')
    throw new InvalidArgumentError('name', 'network name missing');
  if (net.ipam === undefined) throw new InvalidArgumentError('ipam', "IPAM config missing 'ipam' key");
  const ipam = asObject(net.ipam, 'ipam');
  const runtime = net.runtimeConfig === undefined ? {} : asObject(net.runtimeConfig, 'runtimeConfig');
  const args = net.args === undefined ? {} : asObject(net.args, 'args');
  const cni = args.cni === undefined ? {} : asObject(args.cni, 'args.cni');

  const ips: string[] = [];
  for (const pair of cniArgs.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq) === 'IP') ips.push(pair.slice(eq + 1));
  }
  ips.push(...stringList(cni.ips, 'args.cni.ips'), ...stringList(runtime.ips, 'runtimeConfig.ips'));

  const asSets = (value: unknown, at: string): RangeSetConfig[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value))
      throw new InvalidArgumentError(at, `expected an array of range sets, got ${describe(value)}`);
    return value as RangeSetConfig[];
  };
  // Field types are checked by hostLocal(), which names the offending field.
  const field = (k: string) => ipam[k] as string | undefined;
  const legacy: RangeSetConfig[] =
    ipam.subnet === undefined
      ? []
      : [
          [
            {
              subnet: field('subnet') as string,
              rangeStart: field('rangeStart'),
              rangeEnd: field('rangeEnd'),
              gateway: field('gateway'),
            },
          ],
        ];
  const ranges = [
    ...asSets(runtime.ipRanges, 'runtimeConfig.ipRanges'),
    ...legacy,
    ...asSets(ipam.ranges, 'ipam.ranges'),
  ];
  if (ipam.routes !== undefined && !Array.isArray(ipam.routes)) {
    throw new InvalidArgumentError('ipam.routes', `expected an array, got ${describe(ipam.routes)}`);
  }
  const dataDir = typeof ipam.dataDir === 'string' && ipam.dataDir !== '' ? ipam.dataDir : DEFAULT_DATA_DIR;
  return {
    options: {
      store: 'file',
      network: net.name,
      dataDir,
      ranges,
      routes: (ipam.routes as CniRoute[] | undefined) ?? [],
    },
    ips,
    cniVersion,
  };
}
