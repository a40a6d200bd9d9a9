// Shared by the packet tests: real captured frames, a seeded fuzzer and fast-check arbitraries.
import fc from 'fast-check';
import { PodnetError } from '../errors.js';
import { formatIpv6 } from './address.js';

export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/**
 * Frames captured with `tcpdump -w` on a veth pair between two network namespaces (Linux 6.18, TX
 * checksum offload off so every checksum on the wire is final), 192.168.50.10 (02:00:00:00:00:0a,
 * fd00::10) <-> 192.168.50.11 (02:00:00:00:00:0b, fd00::11), with a flannel-style VXLAN device
 * (vni 1, UDP 8472) between 10.244.0.2 and 10.244.1.3 on top. tcpdump -vv reports every checksum
 * as correct.
 */
export const CAPTURES = {
  /** ARP who-has 192.168.50.11 tell 192.168.50.10. */
  arpRequest: hex('ffffffffffff02000000000a0806000108000604000102000000000ac0a8320a000000000000c0a8320b'),
  /** ARP reply 192.168.50.11 is-at 02:00:00:00:00:0b. */
  arpReply: hex('02000000000a02000000000b0806000108000604000202000000000bc0a8320b02000000000ac0a8320a'),
  /** ICMP echo request 192.168.50.10 > 192.168.50.11, id 0x1234 seq 1, DF. */
  icmpEchoRequest: hex(
    '02000000000b02000000000a080045000032393c400040011c29c0a8320ac0a8320b0800a86212340001706f646e6574' +
      '2d70696e672d30313233343536373839',
  ),
  /** ICMP echo reply 192.168.50.11 > 192.168.50.10. */
  icmpEchoReply: hex(
    '02000000000a02000000000b080045000032fcea00004001987ac0a8320bc0a8320a0000b06212340001706f646e6574' +
      '2d70696e672d30313233343536373839',
  ),
  /** ICMPv6 NS fd00::10 > ff02::1:ff00:11, who has fd00::11, source link-layer option. */
  neighborSolicitation: hex(
    '3333ff00001102000000000a86dd6000000000203afffd000000000000000000000000000010ff020000000000000000' +
      '0001ff00001187007d6100000000fd000000000000000000000000000011010102000000000a',
  ),
  /** ICMPv6 NA fd00::11 > fd00::10, flags router/solicited/override, target link-layer option. */
  neighborAdvertisement: hex(
    '02000000000a02000000000b86dd6000000000203afffd000000000000000000000000000011fd000000000000000000' +
      '00000000001088009c63e0000000fd000000000000000000000000000011020102000000000b',
  ),
  /** ICMPv6 echo request fd00::10 > fd00::11, id 0x4321 seq 7, flow label 0x70910. */
  icmpv6EchoRequest: hex(
    '02000000000b02000000000a86dd6007091000143a40fd000000000000000000000000000010fd000000000000000000' +
      '000000000011800009ff43210007706f646e65742d70696e6736',
  ),
  /** UDP 192.168.50.10.43920 > 192.168.50.11.5353, "hello podnet", DF. */
  udp4: hex(
    '02000000000b02000000000a0800450000280995400040114bcac0a8320ac0a8320bab9014e90014dba168656c6c6f20' +
      '706f646e6574',
  ),
  /** ICMP port unreachable for the udp4 datagram, tos 0xc0. */
  icmpPortUnreachable: hex(
    '02000000000a02000000000b080045c00044fd7300004001971fc0a8320bc0a8320a0303e28800000000450000280995' +
      '400040114bcac0a8320ac0a8320bab9014e90014dba168656c6c6f20706f646e6574',
  ),
  /** UDP fd00::10.42851 > fd00::11.5353, "hello podnet v6". */
  udp6: hex(
    '02000000000b02000000000a86dd600bda9e00171140fd000000000000000000000000000010fd000000000000000000' +
      '000000000011a76314e90017749668656c6c6f20706f646e6574207636',
  ),
  /** ICMPv6 port unreachable for the udp6 datagram. */
  icmpv6PortUnreachable: hex(
    '02000000000a02000000000b86dd600e07f500473a40fd000000000000000000000000000011fd000000000000000000' +
      '0000000000100104b87e00000000600bda9e00171140fd000000000000000000000000000010fd000000000000000000' +
      '000000000011a76314e90017749668656c6c6f20706f646e6574207636',
  ),
  /** VXLAN (UDP 8472, vni 1) carrying ARP who-has 10.244.1.3 tell 10.244.0.2. */
  vxlanArpRequest: hex(
    '02000000000b02000000000a08004500004e099a000040118b9fc0a8320ac0a8320ba8632118003af002080000000000' +
      '0100ffffffffffff0a580af40002080600010800060400010a580af400020af400020000000000000af40103',
  ),
  /** VXLAN (UDP 8472, vni 1) carrying TCP SYN 10.244.0.2.42116 > 10.244.1.3.8080 with MSS 1410, SACK, TS, WS. */
  vxlanTcpSyn: hex(
    '02000000000b02000000000a08004500006e099b000040118b7ec0a8320ac0a8320b8e1b2118005a451e080000000000' +
      '01000a580af401030a580af4000208004500003c31dc40004006f1f30af400020af40103a4841f90c91039ca00000000' +
      'a002fd5cb6680000020405820402080a2063962a000000000103030a',
  ),
  /** VXLAN (UDP 8472, vni 1) carrying TCP SYN-ACK 10.244.1.3.8080 > 10.244.0.2.42116. */
  vxlanTcpSynAck: hex(
    '02000000000a02000000000b08004500006e6d330000401127e6c0a8320bc0a8320ac9ca2118005a096f080000000000' +
      '01000a580af400020a580af4010308004500003c00004000400623d00af401030af400021f90a4840631f55dc91039cb' +
      'a012fb342d6d0000020405820402080a688926fa2063962a0103030a',
  ),
  /** VXLAN (UDP 8472, vni 1) carrying TCP PSH-ACK with "GET / HTTP/1.0\r\n\r\n". */
  vxlanTcpData: hex(
    '02000000000b02000000000a080045000078099d000040118b72c0a8320ac0a8320b8e1b211800644514080000000000' +
      '01000a580af401030a580af4000208004500004631de40004006f1e70af400020af40103a4841f90c91039cb0631f55e' +
      '80180040784500000101080a2063962a688926fa474554202f20485454502f312e300d0a0d0a',
  ),
  /** TCP SYN fd00::10.34484 > fd00::11.8080 with MSS 1440. */
  tcp6Syn: hex(
    '02000000000b02000000000a86dd600e904100280640fd000000000000000000000000000010fd000000000000000000' +
      '00000000001186b41f908ada36ca00000000a002fd201c390000020405a00402080a04bdc7ee000000000103030a',
  ),
  /** UDP 192.168.50.10.43920 > 10.99.0.1.9999, 1300 bytes of "x", DF. */
  udp4Big: hex(
    '02000000000b02000000000a08004500053000004000401138a7c0a8320a0a630001ab90270f051c441e' +
      '78'.repeat(1300),
  ),
  /** ICMP 10.99.0.1 unreachable - need to frag (mtu 1280), quoting udp4Big. */
  fragNeeded: hex(
    '02000000000a02000000000b080045c00240fe3900004001945dc0a8320bc0a8320a030481c7000005004500053000004000401138a7c0a8320a0a630001ab90270f051c441e' +
      '78'.repeat(520),
  ),
  /** UDP fd00::10.42851 > fd01::1.9999, 1300 bytes of "y". */
  udp6Big: hex(
    '02000000000b02000000000a86dd600e6f33051c1140fd000000000000000000000000000010fd010000000000000000000000000001a763270f051cbec1' +
      '79'.repeat(1300),
  ),
  /** ICMPv6 packet too big, mtu 1280, quoting udp6Big. */
  packetTooBig: hex(
    '02000000000a02000000000b86dd6003c31f04d83a40fd000000000000000000000000000011fd00000000000000000000000000001002009edf00000500600e6f33051c1140fd000000000000000000000000000010fd010000000000000000000000000001a763270f051cbec1' +
      '79'.repeat(1184),
  ),
} satisfies Record<string, Uint8Array>;

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzOptions {
  /** @default 100_000 */
  runs?: number;
  /** @default 1 */
  seed?: number;
  /** Longest purely random input. @default 96 */
  maxLength?: number;
  /** Called with every value that decoded; may throw to fail the run. */
  onDecoded?: (value: any, input: Uint8Array) => void;
}

export interface FuzzResult {
  runs: number;
  decoded: number;
  rejected: number;
}

const isDecodeError = (e: unknown) => PodnetError.is(e) && e.code === 'PODNET_DECODE';

/**
 * Feeds `decode` random bytes, truncated seeds, mutated seeds (byte and bit changes, cuts,
 * appended junk) and out-of-range offset/end arguments, and throws on the first exception that is
 * not a DecodeError.
 */
export function fuzz(
  decode: (buf: Uint8Array, offset?: number, end?: number) => unknown,
  seeds: readonly Uint8Array[],
  options: FuzzOptions = {},
): FuzzResult {
  const { runs = 100_000, seed = 1, maxLength = 96, onDecoded } = options;
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const random = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const pick = () => seeds[int(seeds.length)];
  let decoded = 0;
  let rejected = 0;
  // Stack traces are most of the cost of a rejected input and say nothing here.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const mode = i % 10;
      let input: Uint8Array;
      let offset: number | undefined;
      let end: number | undefined;
      if (mode < 2) {
        input = random(int(maxLength + 1));
      } else if (mode < 4) {
        const s = pick();
        input = s.subarray(0, int(s.length + 1));
      } else if (mode < 9) {
        input = pick().slice();
        const changes = 1 + int(4);
        for (let k = 0; k < changes && input.length > 0; k++) {
          const at = rand() < 0.7 ? int(Math.min(input.length, 64)) : int(input.length);
          const how = int(4);
          if (how === 0) input[at] = int(256);
          else if (how === 1) input[at] ^= 1 << int(8);
          else input[at] = how === 2 ? 0 : 0xff;
        }
        const cut = rand();
        if (cut < 0.3) input = input.subarray(0, int(input.length + 1));
        else if (cut < 0.4) {
          const longer = new Uint8Array(input.length + 1 + int(16));
          longer.set(input);
          longer.set(random(longer.length - input.length), input.length);
          input = longer;
        }
      } else {
        input = rand() < 0.5 ? pick() : random(int(maxLength + 1));
        offset = int(input.length + 3) - 1;
        end = rand() < 0.5 ? input.length : int(input.length + 3) - 1;
      }
      let value: unknown;
      try {
        value = decode(input, offset, end);
      } catch (e) {
        if (!isDecodeError(e)) {
          throw new Error(
            `not a DecodeError: ${String(e)}; input ${toHex(input)} offset ${offset} end ${end}`,
            { cause: e },
          );
        }
        rejected++;
        continue;
      }
      decoded++;
      onDecoded?.(value, input);
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  return { runs, decoded, rejected };
}

/** A stable text form of a decoded value for comparisons in hot loops: byte arrays as hex, `checksumValid` dropped. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (key, v) =>
    key === 'checksumValid' ? undefined : v instanceof Uint8Array ? toHex(v) : v,
  );
}

export const arb = {
  mac: fc
    .uint8Array({ minLength: 6, maxLength: 6 })
    .map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':')),
  ipv4: fc.ipV4(),
  ipv6: fc.oneof(
    fc
      .array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
      .map((words) => formatIpv6(Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff])))),
    fc.ipV4().map((v4) => `::ffff:${v4}`),
  ),
  bytes: (maxLength: number) => fc.uint8Array({ maxLength }),
  u8: fc.integer({ min: 0, max: 0xff }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  u32: fc.integer({ min: 0, max: 0xffffffff }),
  /** Header options: a multiple of 4 bytes, at most 40. */
  options: fc
    .integer({ min: 0, max: 10 })
    .chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 })),
};

/** Drops the fields decode derives (checksums, lengths) so a decoded value compares to what was encoded. */
export function withoutDerived<T extends object>(value: T): Partial<T> {
  const derived = new Set(['checksum', 'checksumValid', 'length', 'dataOffset']);
  return Object.fromEntries(Object.entries(value).filter(([k]) => !derived.has(k))) as Partial<T>;
}

/** Addresses for a pseudo-header, both IPv4 or both IPv6. */
export const arbPseudo = fc.oneof(
  fc.record({ src: arb.ipv4, dst: arb.ipv4 }),
  fc.record({ src: arb.ipv6, dst: arb.ipv6 }),
);

interface AnyCodec {
  encode(value: any, buf?: Uint8Array, offset?: number, ip?: any): Uint8Array;
  decode(buf: Uint8Array, offset?: number, end?: number, ip?: any): unknown;
}

/** A fuzz `onDecoded` check: every decoded value encodes, and decodes back to itself. */
export function reencodes(codec: AnyCodec, ip?: { src: string; dst: string }): (value: unknown) => void {
  return (value) => {
    const again = codec.decode(codec.encode(value, undefined, 0, ip), 0, undefined, ip);
    if (canonical(again) !== canonical(value))
      throw new Error(`re-encoding changed ${canonical(value)} into ${canonical(again)}`);
  };
}

export const isDecodeErrorAt = (protocol: string) => (e: unknown) =>
  PodnetError.is(e) &&
  e.code === 'PODNET_DECODE' &&
  (e as PodnetError & { protocol: string }).protocol === protocol;
