/** Loopback DNS clients for the server tests (UDP and TCP, with timeouts). */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export function encodeQuery(
  name: string,
  type = 'A',
  id = 0x4242,
  extra: Record<string, unknown> = {},
): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    ...extra,
  } as any);
}

export function udpAsk(
  port: number,
  packet: Buffer,
  timeoutMs = 2000,
  host = '127.0.0.1',
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      resolve(undefined);
    }, timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.send(packet, port, host);
  });
}

/** Send length-prefixed messages on one connection; resolve with `expect` responses (or fewer on timeout). */
export function tcpAsk(
  port: number,
  packets: Buffer[],
  expect = packets.length,
  timeoutMs = 2000,
): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, timeoutMs);
    sock.on('error', done);
    sock.on('connect', () => {
      sock.write(Buffer.concat(packets.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 0xff]), p])));
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length >= expect) done();
    });
  });
}

export function decode(msg: Buffer | undefined): any {
  if (!msg) throw new Error('no response');
  return dnsPacket.decode(msg);
}
