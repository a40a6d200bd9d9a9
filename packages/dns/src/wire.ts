/**
 * Query bytes → response bytes, through `dns-packet`: validation (FORMERR, NOTIMP, BADVERS), EDNS0
 * buffer sizes, truncation with TC. Pure and synchronous; forwarding is left to the caller, which
 * gets an `upstream` outcome with the bytes to send and completes it with the reply.
 */
import dnsPacket from 'dns-packet';
import {
  type AnswerSource,
  type DnsAnswer,
  type DnsQuestion,
  type DnsRecord,
  RCODE_VALUES,
  type Rcode,
} from './records.js';
import type { Resolver } from './resolver.js';

/** dns-packet's question codec (exported by the library, absent from its type declarations). */
const questionCodec = (
  dnsPacket as unknown as {
    question: { encodingLength(q: unknown): number; encode(q: unknown, buf: Buffer): unknown };
  }
).question;

const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;
const CD = 0x0010;
const DO = 0x8000;

export interface WireOptions {
  transport: 'udp' | 'tcp';
  /** The client may use the upstreams. */
  recursion: boolean;
  /** Largest UDP response sent, whatever the client advertises. @default 4096 */
  maxUdpSize?: number;
  /** UDP payload size advertised in the response's OPT record (DNS flag day 2020). @default 1232 */
  ednsBufferSize?: number;
}

export interface WireRequest {
  id: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  question: DnsQuestion;
  /** The query's OPT record, when it had one. */
  edns?: { udpPayloadSize: number; dnssecOk: boolean };
}

export type WireOutcome =
  | { kind: 'drop'; reason: 'short' | 'response' }
  | {
      kind: 'reply';
      message: Buffer;
      qtype: string;
      rcode: Rcode;
      source: AnswerSource | 'server';
      /** The same query bytes (bar the ID) always get these bytes back from this resolver. */
      cacheable: boolean;
    }
  | {
      kind: 'upstream';
      qtype: string;
      /** Bytes to send to an upstream: the query itself (forward) or a query for a CNAME target (chase). */
      query: Buffer;
      mode: 'forward' | 'chase';
      request: WireRequest;
      answer: DnsAnswer;
    };

function rcodeName(value: number): Rcode {
  const hit = (Object.keys(RCODE_VALUES) as Rcode[]).find((k) => RCODE_VALUES[k] === value);
  return hit ?? 'SERVFAIL';
}

/** Header-only error reply for a query that could not be decoded. */
function headerError(packet: Uint8Array, rcode: Rcode): Buffer {
  const id = (packet[0] << 8) | packet[1];
  const flags = (packet[2] << 8) | packet[3];
  return dnsPacket.encode({
    type: 'response',
    id,
    flags: (flags & 0x7800) | (flags & RD) | RCODE_VALUES[rcode],
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  } as any);
}

type Parsed = { ok: true; request: WireRequest } | { ok: false; outcome: WireOutcome };

/** Decode and validate one query. Never throws. */
export function parseQuery(
  packet: Uint8Array,
  options: Pick<WireOptions, 'maxUdpSize' | 'ednsBufferSize'> = {},
): Parsed {
  if (packet.length < 12) return { ok: false, outcome: { kind: 'drop', reason: 'short' } };
  if (packet[2] & 0x80) return { ok: false, outcome: { kind: 'drop', reason: 'response' } };
  const buf = Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.length);
  const formerr = (): Parsed => ({
    ok: false,
    outcome: {
      kind: 'reply',
      message: headerError(buf, 'FORMERR'),
      qtype: 'other',
      rcode: 'FORMERR',
      source: 'server',
      cacheable: false,
    },
  });
  // Section counts that cannot fit in the packet (a record takes at least 11 bytes) are refused
  // before decoding: dns-packet would allocate arrays of up to 65535 entries per section.
  const counts = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  if (buf.readUInt16BE(4) !== 1 || counts * 11 > buf.length - 12) return formerr();
  let msg: any;
  try {
    msg = dnsPacket.decode(buf);
  } catch {
    return formerr();
  }
  if (msg.questions.length !== 1) return formerr();
  const q = msg.questions[0];
  try {
    const again = Buffer.alloc(questionCodec.encodingLength(q));
    questionCodec.encode(q, again);
    // A name dns-packet cannot represent exactly (a dot inside a label, bytes that are not UTF-8) or
    // a class it cannot encode would be echoed wrongly: refuse to interpret it.
    if (!again.equals(buf.subarray(12, 12 + again.length))) return formerr();
  } catch {
    return formerr();
  }
  const opts = msg.additionals.filter((a: any) => a.type === 'OPT');
  if (opts.length > 1 || (opts.length === 1 && opts[0].name !== '.')) return formerr();
  const flags = (buf[2] << 8) | buf[3];
  const request: WireRequest = {
    id: msg.id,
    opcode: (flags >> 11) & 0xf,
    rd: (flags & RD) !== 0,
    cd: (flags & CD) !== 0,
    question: { name: q.name === '.' ? '' : q.name, type: q.type, class: q.class },
  };
  if (opts.length === 1) {
    request.edns = { udpPayloadSize: opts[0].udpPayloadSize, dnssecOk: (opts[0].flags & DO) !== 0 };
    if (opts[0].ednsVersion !== 0) {
      return { ok: false, outcome: reply(request, { rcode: 'BADVERS' }, 'udp', options, 'server') };
    }
  }
  if (request.opcode !== 0)
    return { ok: false, outcome: reply(request, { rcode: 'NOTIMP' }, 'udp', options, 'server') };
  return { ok: true, request };
}

/** The most bytes a response to this request may take on this transport. */
export function responseLimit(request: WireRequest, transport: 'udp' | 'tcp', maxUdpSize = 4096): number {
  if (transport === 'tcp') return 65535;
  if (!request.edns) return 512;
  return Math.max(512, Math.min(request.edns.udpPayloadSize, maxUdpSize));
}

/** Encode the response to `request`, truncated to `limit` bytes (TC set when answers were cut). */
export function encodeResponse(
  request: WireRequest,
  answer: Partial<DnsAnswer> & { rcode: Rcode },
  limit: number,
  ednsBufferSize = 1232,
): Buffer {
  const code = RCODE_VALUES[answer.rcode];
  let flags =
    (request.opcode << 11) |
    (answer.authoritative ? AA : 0) |
    (request.rd ? RD : 0) |
    (answer.recursionAvailable ? RA : 0) |
    (request.cd ? CD : 0) |
    (code & 0xf);
  const opt = request.edns
    ? {
        name: '.',
        type: 'OPT',
        udpPayloadSize: ednsBufferSize,
        extendedRcode: code >> 4,
        ednsVersion: 0,
        flags: request.edns.dnssecOk ? DO : 0,
        options: [],
      }
    : undefined;
  const tail = opt ? [opt] : [];
  const answers = answer.answers ?? [];
  const packet = (an: DnsRecord[], ns: DnsRecord[], ar: DnsRecord[]) =>
    dnsPacket.encode({
      type: 'response',
      id: request.id,
      flags,
      questions: [request.question.name === '' ? { ...request.question, name: '.' } : request.question],
      answers: an,
      authorities: ns,
      additionals: [...ar, ...tail],
    } as any);
  let buf = packet(answers, answer.authorities ?? [], answer.additionals ?? []);
  if (buf.length <= limit) return buf;
  // Additional records may go without TC (RFC 2181 §9); then answers are cut and TC is set.
  buf = packet(answers, answer.authorities ?? [], []);
  if (buf.length <= limit) return buf;
  flags |= TC;
  let lo = 0;
  let hi = answers.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (packet(answers.slice(0, mid), [], []).length <= limit) lo = mid;
    else hi = mid - 1;
  }
  return packet(answers.slice(0, lo), [], []);
}

function reply(
  request: WireRequest,
  answer: Partial<DnsAnswer> & { rcode: Rcode },
  transport: 'udp' | 'tcp',
  options: Pick<WireOptions, 'maxUdpSize' | 'ednsBufferSize'>,
  source: AnswerSource | 'server',
  cacheable = false,
): WireOutcome {
  return {
    kind: 'reply',
    message: encodeResponse(
      request,
      answer,
      responseLimit(request, transport, options.maxUdpSize),
      options.ednsBufferSize,
    ),
    qtype: request.question.type,
    rcode: answer.rcode,
    source,
    cacheable,
  };
}

/** Answer one query packet with the resolver. Never throws. */
export function answerQuery(resolver: Resolver, packet: Uint8Array, options: WireOptions): WireOutcome {
  const parsed = parseQuery(packet, options);
  if (!parsed.ok) return parsed.outcome;
  const { request } = parsed;
  let answer: DnsAnswer;
  try {
    answer = resolver.resolve(request.question, { recursion: options.recursion });
  } catch {
    return reply(request, { rcode: 'SERVFAIL' }, options.transport, options, 'server');
  }
  if (answer.forward) {
    return {
      kind: 'upstream',
      qtype: request.question.type,
      mode: 'forward',
      query: Buffer.from(packet),
      request,
      answer,
    };
  }
  if (answer.chase && options.recursion) {
    const query = dnsPacket.encode({
      type: 'query',
      id: request.id,
      flags: RD,
      questions: [{ name: answer.chase.name, type: answer.chase.type, class: 'IN' }],
      additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, flags: 0, options: [] }],
    } as any);
    return { kind: 'upstream', qtype: request.question.type, mode: 'chase', query, request, answer };
  }
  const cacheable =
    (answer.source === 'kubernetes' || answer.source === 'hosts') &&
    answer.chase === undefined &&
    (answer.rcode === 'NOERROR' || answer.rcode === 'NXDOMAIN');
  return reply(request, answer, options.transport, options, answer.source, cacheable);
}

/**
 * Finish an `upstream` outcome with the upstream's reply (undefined: no upstream answered → SERVFAIL,
 * as CoreDNS's forward plugin answers). A forwarded reply is relayed with the client's ID; a chased
 * CNAME target's records are appended to the answer.
 */
export function completeUpstream(
  pending: Extract<WireOutcome, { kind: 'upstream' }>,
  upstreamReply: Uint8Array | undefined,
  options: WireOptions,
): Extract<WireOutcome, { kind: 'reply' }> {
  const { request, answer } = pending;
  const limit = responseLimit(request, options.transport, options.maxUdpSize);
  let decoded: any;
  if (upstreamReply && upstreamReply.length >= 12) {
    try {
      decoded = dnsPacket.decode(Buffer.from(upstreamReply));
    } catch {
      decoded = undefined;
    }
  }
  if (pending.mode === 'forward') {
    if (!decoded || decoded.id !== request.id || decoded.type !== 'response') {
      return reply(request, { rcode: 'SERVFAIL' }, options.transport, options, 'forward') as any;
    }
    const message = Buffer.from(upstreamReply!);
    const rcode = rcodeName(message[3] & 0xf);
    if (message.length <= limit)
      return { kind: 'reply', message, qtype: pending.qtype, rcode, source: 'forward', cacheable: false };
    const records = (xs: any[]) => xs.filter((r) => r.type !== 'OPT');
    const relayed = {
      rcode,
      authoritative: decoded.flag_aa,
      recursionAvailable: decoded.flag_ra,
      answers: records(decoded.answers),
      authorities: records(decoded.authorities),
      additionals: records(decoded.additionals),
    };
    return reply(request, relayed, options.transport, options, 'forward') as any;
  }
  const extra =
    decoded && decoded.type === 'response' ? decoded.answers.filter((r: any) => r.type !== 'OPT') : [];
  return reply(
    request,
    { ...answer, answers: [...answer.answers, ...extra] },
    options.transport,
    options,
    answer.source,
  ) as any;
}

/** A stub resolver's query for `question` (RD set, no EDNS, as glibc sends it) with message `id`. */
export function encodeQuestion(question: DnsQuestion, id: number): Uint8Array {
  return dnsPacket.encode({
    type: 'query',
    id: id & 0xffff,
    flags: RD,
    questions: [{ name: question.name, type: question.type, class: question.class ?? 'IN' }],
  } as any);
}

/**
 * A response's bytes as a DnsAnswer (records without OPT). `source` is `forward`: the wire does not
 * say which part of the server answered. Undefined when the bytes are not a DNS response.
 */
export function decodeAnswer(bytes: Uint8Array): DnsAnswer | undefined {
  if (bytes.length < 12) return undefined;
  let msg: any;
  try {
    msg = dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch {
    return undefined;
  }
  if (msg.type !== 'response') return undefined;
  const records = (xs: any[] | undefined): DnsRecord[] =>
    (xs ?? [])
      .filter((r) => r.type !== 'OPT')
      .map((r) => ({ name: r.name, type: r.type, ttl: r.ttl, class: r.class, data: r.data }));
  return {
    rcode: rcodeName(bytes[3] & 0xf),
    authoritative: (bytes[2] & 0x04) !== 0,
    recursionAvailable: (bytes[3] & 0x80) !== 0,
    answers: records(msg.answers),
    authorities: records(msg.authorities),
    additionals: records(msg.additionals),
    source: 'forward',
  };
}
