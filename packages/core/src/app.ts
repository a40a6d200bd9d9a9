/**
 * Apps: code that runs inside a namespace. Each app module has two faces: `emulated` binds
 * handlers on the emulator's sockets (synchronous, so traces stay deterministic and fast), `run`
 * is the real server, started inside the namespace by the linux backend.
 */
import type { SpecificationVersion } from './plugin.js';

export interface PeerInfo {
  /** The remote address and port as this socket sees them (after any NAT). */
  address: string;
  port: number;
  /** The local address and port the packet arrived on. */
  localAddress: string;
  localPort: number;
}

/** Answer a datagram: return the reply payload, or undefined for no reply. */
export type UdpHandler = (payload: Uint8Array, peer: PeerInfo) => Uint8Array | undefined;

/**
 * Answer a TCP exchange: the emulator models a connection as the client's bytes (one request)
 * and the server's bytes (one response), carried over a real handshake.
 */
export type TcpHandler = (request: Uint8Array, peer: PeerInfo) => Uint8Array | undefined;

export interface OutboundResult {
  /** Whether the exchange completed (delivered and, for TCP, answered). */
  ok: boolean;
  /** The reply payload when there was one. */
  reply?: Uint8Array;
  /** Why it failed: `refused`, `unreachable`, `dropped`, `timeout`, ... */
  error?: string;
}

export interface EmulatedTun {
  readonly name: string;
  /** Inject an IP packet into the namespace's stack as if it came out of the TUN. */
  write(ipPacket: Uint8Array): void;
}

/** What an emulated app can do inside its namespace. */
export interface EmulatedHost {
  readonly node: string;
  readonly netns: string;
  /** Addresses configured in this namespace (no prefix). */
  addresses(): string[];
  /** Listen on UDP `port`; `address` undefined = all addresses. */
  listenUdp(port: number, handler: UdpHandler, address?: string): void;
  listenTcp(port: number, handler: TcpHandler, address?: string): void;
  /**
   * Open a new UDP exchange from this namespace; the trace follows it. With `sourcePort` a port
   * this app listens on (`listenUdp`), the datagram leaves by that socket (from its bound
   * address), as a daemon sends from its bound socket: what comes back goes to the listener's
   * handler, and the result has no `reply` (`ok` when the datagram reached a socket). Otherwise a
   * transient socket gets the answer as `reply`.
   */
  sendUdp(dst: string, port: number, payload: Uint8Array, options?: { sourcePort?: number }): OutboundResult;
  /** Open a new TCP connection from this namespace and send `request`; the trace follows it. */
  requestTcp(dst: string, port: number, request: Uint8Array): OutboundResult;
  /** Attach to a TUN device in this namespace: packets routed into it are handed to `onPacket`. */
  openTun(name: string, onPacket: (ipPacket: Uint8Array) => void): EmulatedTun;
  /** A line for the trace and the app's log. */
  log(message: string): void;
}

export interface RunningApp {
  /** Addresses the app serves on, e.g. `udp 10.244.0.5:53`. */
  readonly endpoints: string[];
  stop(): Promise<void>;
}

export interface AppModule<Config = unknown> {
  readonly specificationVersion: SpecificationVersion;
  /** The id AppInstance.app refers to. */
  readonly id: string;
  /** Bind handlers on the emulator's sockets. */
  emulated(config: Config, host: EmulatedHost): void;
  /** Start the real server in the current process's namespace (the backend enters it first). */
  run(config: Config): Promise<RunningApp>;
  /**
   * An importable module specifier whose `default` export is this AppModule, so a backend can
   * start it in a fresh process (`node -e "import(entry)"` inside the namespace).
   */
  readonly entry?: string;
}

/** App modules by id, handed to a backend by whoever composes the cluster. */
export type AppRegistry = ReadonlyMap<string, AppModule<any>>;
