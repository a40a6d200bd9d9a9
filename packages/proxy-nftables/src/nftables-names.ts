/**
 * kube-proxy's nftables object names: a readable `ns/svc/proto/port` base prefixed with eight
 * characters of base32(sha256(base)), truncated to fit nft's 256-byte names with a 16-byte prefix.
 */
import { createHash } from 'node:crypto';
import { base32Prefix } from '@podnet/core';

const NAME_LENGTH_MAX = 256;
const PREFIX_LENGTH_MAX = 16;
const BASE_LENGTH_MAX = NAME_LENGTH_MAX - PREFIX_LENGTH_MAX;

/** kube-proxy's hashAndTruncate. */
export function hashAndTruncate(name: string): string {
  const hash = base32Prefix(createHash('sha256').update(name).digest(), 8);
  const full = `${hash}-${name}`;
  return full.length > BASE_LENGTH_MAX ? `${full.slice(0, BASE_LENGTH_MAX - 3)}...` : full;
}

/** `HASH-namespace/name/proto/portName`, e.g. `ULMVA6XW-ns1/svc1/tcp/p80`. */
export function servicePortChainNameBase(
  namespace: string,
  name: string,
  proto: string,
  portName: string,
): string {
  return hashAndTruncate(`${namespace}/${name}/${proto}/${portName}`);
}

/** `HASH-namespace/name/proto/portName__ip/port`; IPv6 colons become dots. */
export function endpointChainNameBase(
  namespace: string,
  name: string,
  proto: string,
  portName: string,
  ip: string,
  port: number,
): string {
  return hashAndTruncate(`${namespace}/${name}/${proto}/${portName}__${ip.replaceAll(':', '.')}/${port}`);
}

export interface ServiceChains {
  service: string;
  local: string;
  external: string;
  firewall: string;
}

export function serviceChainNames(
  namespace: string,
  name: string,
  proto: string,
  portName: string,
): ServiceChains {
  const base = servicePortChainNameBase(namespace, name, proto, portName);
  return {
    service: `service-${base}`,
    local: `local-${base}`,
    external: `external-${base}`,
    firewall: `firewall-${base}`,
  };
}

/** Service-specific chains have a `/` in their names; kube-proxy's own chains never do. */
export function isServiceChainName(chain: string): boolean {
  return chain.includes('/');
}
