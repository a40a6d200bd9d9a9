/**
 * The client half of a differential check: a real TCP, UDP or HTTP exchange made from inside a
 * namespace of a running cluster (`ip netns exec NS node -e CLIENT`), reported as data: did it
 * connect, what came back, and — when the server is the `whoami` app — which pod answered and
 * which source address it saw.
 */
import { PodnetError } from '@podnet/core';
import { type ClusterLocation, resolveTarget } from './linux-backend.js';
import { run } from './run.js';
import { parseWhoami, type WhoamiReply } from './whoami-app.js';

export interface ProbeRequest {
  proto: 'tcp' | 'udp' | 'http';
  /** Destination address. */
  host: string;
  port: number;
  /** Exchanges to make, one after another (each a new connection / new source port). @default 1 */
  count?: number;
  /** Per exchange, ms. @default 1500 */
  timeoutMs?: number;
  /** What TCP and UDP send. @default 'ping\n' */
  payload?: string;
  /** Pad the payload to this many bytes (UDP: the datagram's payload size). */
  size?: number;
  /** HTTP Host header. @default host */
  hostHeader?: string;
  /** Send these bytes (hex) instead of `payload`, and report the reply as hex (binary protocols: DNS). */
  payloadHex?: string;
}

export interface ProbeOutcome {
  /** The exchange completed: connected and answered (UDP: a datagram came back). */
  ok: boolean;
  /** `refused`, `timeout`, `unreachable`, `too big`, or the errno code. */
  error?: string;
  /** The reply as text (HTTP: the whole response; hex with `payloadHex`). */
  reply?: string;
  /** HTTP status, for http probes. */
  status?: number;
  /** The reply parsed as a whoami line. */
  whoami?: WhoamiReply;
  ms: number;
}

const CLIENT = String.raw`
const net = require('node:net'), dgram = require('node:dgram');
const q = JSON.parse(process.argv[1]);
const payload = q.payloadHex ? Buffer.from(q.payloadHex, 'hex') : q.size ? (q.payload + '.'.repeat(Math.max(0, q.size - q.payload.length))).slice(0, q.size) : q.payload;
const text = (b) => (q.payloadHex ? b.toString('hex') : b.toString());
const why = (e) => ({ ECONNREFUSED: 'refused', ETIMEDOUT: 'timeout', EHOSTUNREACH: 'unreachable', ENETUNREACH: 'unreachable', EMSGSIZE: 'too big' })[e.code] || e.code || String(e.message);
function tcp(data) {
  return new Promise((resolve) => {
    const t0 = Date.now(); const chunks = []; let idle; let done = false;
    const s = net.connect({ host: q.host, port: q.port });
    const finish = (r) => { if (done) return; done = true; clearTimeout(timer); clearTimeout(idle); s.destroy(); resolve({ ...r, ms: Date.now() - t0 }); };
    const timer = setTimeout(() => finish(chunks.length ? { ok: true, reply: text(Buffer.concat(chunks)) } : { ok: false, error: 'timeout' }), q.timeoutMs);
    s.on('connect', () => s.write(data));
    s.on('data', (b) => { chunks.push(b); clearTimeout(idle); idle = setTimeout(() => finish({ ok: true, reply: text(Buffer.concat(chunks)) }), q.proto === 'http' ? 1000 : 150); });
    s.on('end', () => finish(chunks.length ? { ok: true, reply: text(Buffer.concat(chunks)) } : { ok: false, error: 'closed' }));
    s.on('error', (e) => finish(chunks.length ? { ok: true, reply: text(Buffer.concat(chunks)) } : { ok: false, error: why(e) }));
  });
}
function udp() {
  return new Promise((resolve) => {
    const t0 = Date.now(); let done = false;
    const s = dgram.createSocket(q.host.includes(':') ? 'udp6' : 'udp4');
    const finish = (r) => { if (done) return; done = true; clearTimeout(timer); s.close(); resolve({ ...r, ms: Date.now() - t0 }); };
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), q.timeoutMs);
    s.on('message', (m) => finish({ ok: true, reply: text(m) }));
    s.on('error', (e) => finish({ ok: false, error: why(e) }));
    s.send(payload, q.port, q.host, (e) => { if (e) finish({ ok: false, error: why(e) }); });
  });
}
(async () => {
  const out = [];
  for (let i = 0; i < q.count; i++) {
    if (q.proto === 'udp') out.push(await udp());
    else if (q.proto === 'tcp') out.push(await tcp(payload));
    else out.push(await tcp('GET / HTTP/1.1\r\nHost: ' + q.hostHeader + '\r\nUser-Agent: podnet-probe\r\nConnection: close\r\n\r\n'));
  }
  process.stdout.write(JSON.stringify(out));
})();
`;

/** Runs the exchanges from inside kernel namespace `netns`. */
export async function probeNetns(netns: string, request: ProbeRequest): Promise<ProbeOutcome[]> {
  const q = {
    proto: request.proto,
    host: request.host,
    port: request.port,
    count: request.count ?? 1,
    timeoutMs: request.timeoutMs ?? 1500,
    payload: request.payload ?? 'ping\n',
    size: request.size,
    hostHeader: request.hostHeader ?? request.host,
    payloadHex: request.payloadHex,
  };
  const budget = q.count * (q.timeoutMs + 1500) + 5000;
  const r = await run(['ip', 'netns', 'exec', netns, process.execPath, '-e', CLIENT, JSON.stringify(q)], {
    timeoutMs: budget,
  });
  let list: Omit<ProbeOutcome, 'whoami' | 'status'>[];
  try {
    list = JSON.parse(r.stdout);
  } catch (e) {
    throw new PodnetError(
      'PODNET_BACKEND',
      `probe in ${netns}: unreadable client output: ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 200)}`,
      { cause: e },
    );
  }
  return list.map((o) => {
    const out: ProbeOutcome = { ...o };
    if (o.reply !== undefined && request.payloadHex === undefined) {
      const w = parseWhoami(o.reply);
      if (w) out.whoami = w;
      const st = /^HTTP\/1\.[01] (\d{3})/.exec(o.reply);
      if (st) out.status = Number(st[1]);
    }
    return out;
  });
}

/** Runs the exchanges from `from` (`NS/POD`, `node/NAME`, `external`, ...) of a running cluster. */
export async function probe(
  cluster: string,
  from: string,
  request: ProbeRequest,
  options: ClusterLocation = {},
): Promise<ProbeOutcome[]> {
  return probeNetns(resolveTarget(cluster, from, options), request);
}
