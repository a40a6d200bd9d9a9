/** Forwarding to upstream resolvers (CoreDNS `forward` with `prefer_udp`). */
import dgram from 'node:dgram';
import net from 'node:net';
import { ipFamily } from '@podnet/core';
import { parseHostPort } from './resolver-options.js';

function udpExchange(
  query: Buffer,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(ipFamily(host) === 6 ? 'udp6' : 'udp4');
    const done = (reply: Buffer | undefined) => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on('error', () => done(undefined));
    sock.on('message', (msg, rinfo) => {
      if (rinfo.port !== port || msg.length < 12 || msg.readUInt16BE(0) !== query.readUInt16BE(0)) return;
      done(msg);
    });
    sock.send(query, port, host);
  });
}

function tcpExchange(
  query: Buffer,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (reply: Buffer | undefined) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(reply);
    };
    sock.setTimeout(timeoutMs, () => done(undefined));
    sock.on('error', () => done(undefined));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
        done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    sock.on('end', () => done(undefined));
  });
}

/** Ask each upstream in turn; the first reply wins. Undefined when none answered in time. */
export async function forwardQuery(
  query: Buffer,
  upstreams: readonly string[],
  options: { timeoutMs: number; tcp: boolean },
): Promise<Buffer | undefined> {
  for (const u of upstreams) {
    const hp = parseHostPort(u, 53);
    if (!hp) continue;
    // CoreDNS's prefer_udp: UDP first; TCP when the reply is truncated, or for a TCP client when UDP got nothing.
    let reply = await udpExchange(query, hp.host, hp.port, options.timeoutMs);
    if ((reply && (reply[2] & 0x02) !== 0) || (!reply && options.tcp)) {
      reply = (await tcpExchange(query, hp.host, hp.port, options.timeoutMs)) ?? reply;
    }
    if (reply) return reply;
  }
  return undefined;
}
