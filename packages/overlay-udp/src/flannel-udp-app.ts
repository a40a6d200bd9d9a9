/**
 * The `flannel-udp` app: flanneld's UDP backend data path. The emulated face binds to the
 * emulator's TUN and sockets; the run face is the real userspace daemon, given a TUN file
 * descriptor (Node cannot issue the TUNSETIFF ioctl that opens one; the linux backend's native
 * helper does and passes `tunFd`).
 */
import {
  type AppModule,
  type EmulatedHost,
  FeatureMissingError,
  type RunningApp,
  SPECIFICATION_VERSION,
} from '@podnet/core';
import { type FlannelUdpConfig, UdpProxy } from './udp-proxy.js';

export const FLANNEL_UDP_APP = 'flannel-udp';

/** Packet I/O on a TUN-like device: one call, one whole IP packet. */
export interface PacketDevice {
  /** Start delivering packets read from the device. */
  start(onPacket: (packet: Uint8Array) => void, onError: (error: Error) => void): void;
  write(packet: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface RunFlannelUdpOptions {
  /** Error and drop lines. @default writes to stderr */
  log?: (line: string) => void;
}

function emulated(config: FlannelUdpConfig, host: EmulatedHost): void {
  const proxy = new UdpProxy(config);
  const tun = host.openTun(config.tun, (packet) => {
    const verdict = proxy.fromTun(packet);
    if (verdict.action === 'send') {
      // From the bound socket (localIP:port), as flannel does: the peer's datagrams stay with the listener.
      host.sendUdp(verdict.nodeIP, config.port, verdict.packet, { sourcePort: config.port });
    } else if (verdict.action === 'reply') {
      host.log(`flannel-udp: ${verdict.reason}: ICMP net unreachable`);
      tun.write(verdict.packet);
    } else {
      host.log(`flannel-udp: dropped: ${verdict.reason}`);
    }
  });
  host.listenUdp(
    config.port,
    (payload) => {
      const packet = proxy.fromUdp(payload);
      if (packet) tun.write(packet);
      else host.log(`flannel-udp: dropped a ${payload.length}-byte datagram: not IPv4 or TTL expired`);
      return undefined;
    },
    config.localIP,
  );
}

/** The real daemon over any packet device: UDP socket bound to `localIP:port`, proxying both ways. */
export async function runFlannelUdp(
  config: FlannelUdpConfig,
  device: PacketDevice,
  options: RunFlannelUdpOptions = {},
): Promise<RunningApp> {
  const proxy = new UdpProxy(config);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dgram = await import('node:dgram');
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: config.localIP, port: config.port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const writeTun = (packet: Uint8Array) =>
    device.write(packet).catch((e: Error) => log(`flannel-udp: TUN write failed: ${e.message}`));
  socket.on('error', (e) => log(`flannel-udp: socket error: ${e.message}`));
  socket.on('message', (msg) => {
    const packet = proxy.fromUdp(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    if (packet) void writeTun(packet);
  });
  device.start(
    (packet) => {
      const verdict = proxy.fromTun(packet);
      if (verdict.action === 'send') socket.send(verdict.packet, config.port, verdict.nodeIP);
      else if (verdict.action === 'reply') void writeTun(verdict.packet);
      else log(`flannel-udp: dropped: ${verdict.reason}`);
    },
    (e) => log(`flannel-udp: TUN read failed: ${e.message}`),
  );
  let stopped = false;
  return {
    endpoints: [`udp ${config.localIP}:${config.port}`, `tun ${config.tun}`],
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      await device.close();
    },
  };
}

/** A PacketDevice over an open TUN file descriptor (reads in the thread pool, one packet per read). */
export async function tunFdDevice(fd: number, mtu: number): Promise<PacketDevice> {
  const fs = await import('node:fs');
  let closed = false;
  return {
    start(onPacket, onError) {
      const buf = Buffer.alloc(Math.max(mtu, 65535));
      const next = () => {
        if (closed) return;
        fs.read(fd, buf, 0, buf.length, null, (err, n) => {
          if (closed) return;
          if (err) {
            if ((err as NodeJS.ErrnoException).code === 'EAGAIN') setTimeout(next, 1);
            else onError(err);
            return;
          }
          if (n > 0) onPacket(Uint8Array.prototype.slice.call(buf, 0, n));
          next();
        });
      };
      next();
    },
    write: (packet) =>
      new Promise((resolve, reject) => fs.write(fd, packet, (err) => (err ? reject(err) : resolve()))),
    close: () =>
      new Promise((resolve) => {
        if (closed) return resolve();
        closed = true;
        fs.close(fd, () => resolve());
      }),
  };
}

async function run(config: FlannelUdpConfig): Promise<RunningApp> {
  if (config.tunFd === undefined) {
    throw new FeatureMissingError(
      'tun',
      `flannel-udp needs an open TUN device: pass config.tunFd, a file descriptor on /dev/net/tun attached to ${config.tun} ` +
        '(TUNSETIFF with IFF_TUN | IFF_NO_PI). Node cannot issue that ioctl; the linux backend opens it with its native helper.',
    );
  }
  if (!Number.isInteger(config.tunFd) || config.tunFd < 0) {
    throw new FeatureMissingError(
      'tun',
      `flannel-udp config.tunFd must be an open file descriptor, got ${JSON.stringify(config.tunFd)}`,
    );
  }
  return runFlannelUdp(config, await tunFdDevice(config.tunFd, config.mtu));
}

export const flannelUdpApp: AppModule<FlannelUdpConfig> = {
  specificationVersion: SPECIFICATION_VERSION,
  id: FLANNEL_UDP_APP,
  emulated,
  run,
  entry: '@podnet/overlay-udp',
};
