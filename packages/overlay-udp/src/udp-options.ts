import { InvalidArgumentError } from '@podnet/core';

/** Options of the udp backend, named after flannel's `Backend` keys (`Port`). */
export interface UdpOptions {
  /** UDP port the daemon listens on and sends to on every node. @default 8285 */
  port?: number;
  /** Install flanneld's `--ip-masq` rules (FLANNEL-POSTRTG, FLANNEL-FWD). @default true */
  ipMasq?: boolean;
}

export interface ResolvedUdpOptions {
  port: number;
  ipMasq: boolean;
}

export function resolveUdpOptions(options: UdpOptions = {}): ResolvedUdpOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('udp', 'options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'port' && key !== 'ipMasq')
      throw new InvalidArgumentError(`udp.${key}`, 'unknown option (known: port, ipMasq)');
  }
  const { port = 8285, ipMasq = true } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError('udp.port', `must be an integer 1-65535, got ${JSON.stringify(port)}`);
  }
  if (typeof ipMasq !== 'boolean')
    throw new InvalidArgumentError('udp.ipMasq', `must be a boolean, got ${JSON.stringify(ipMasq)}`);
  return { port, ipMasq };
}
