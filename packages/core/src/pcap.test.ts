import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EncodeError } from './errors.js';
import { buildFrame, decodeFrame, type FrameSpec, mssOption } from './packet/index.js';
import { LINKTYPE_ETHERNET, PcapngWriter, PcapWriter } from './pcap.js';

const TS = 1_700_000_000_123_456_789n;

/** Pod 10.244.0.2 on node 192.168.50.10 opens TCP to pod 10.244.1.3:8080 on node 192.168.50.11 over flannel VXLAN. */
const INNER: FrameSpec = {
  ethernet: { src: '0a:58:0a:f4:00:02', dst: '0a:58:0a:f4:01:03' },
  ipv4: { src: '10.244.0.2', dst: '10.244.1.3', id: 0x31dc, flags: { df: true } },
  tcp: {
    sport: 42116,
    dport: 8080,
    seq: 3373283786,
    window: 64860,
    flags: { syn: true },
    options: mssOption(1410),
  },
};
const OUTER: FrameSpec = {
  ethernet: { src: '02:00:00:00:00:0a', dst: '02:00:00:00:00:0b' },
  ipv4: { src: '192.168.50.10', dst: '192.168.50.11', id: 0x099b },
  udp: { sport: 36379, dport: 8472 },
  vxlan: { vni: 1 },
  inner: INNER,
};

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

interface Block {
  type: number;
  body: Uint8Array;
}

/** Splits a little-endian pcapng file into blocks, checking both length fields of each. */
function blocks(file: Uint8Array): Block[] {
  const out: Block[] = [];
  for (let o = 0; o < file.length; ) {
    const v = view(file.subarray(o));
    const length = v.getUint32(4, true);
    expect(length % 4).toBe(0);
    expect(v.getUint32(length - 4, true)).toBe(length);
    out.push({ type: v.getUint32(0, true), body: file.subarray(o + 8, o + length - 4) });
    o += length;
  }
  return out;
}

/** Options of a block as code -> value, from `at` in its body to opt_endofopt. */
function options(body: Uint8Array, at: number): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>();
  for (let o = at; o < body.length; ) {
    const code = view(body).getUint16(o, true);
    const length = view(body).getUint16(o + 2, true);
    if (code === 0) break;
    found.set(code, body.subarray(o + 4, o + 4 + length));
    o += 4 + ((length + 3) & ~3);
  }
  return found;
}

describe('PcapWriter', () => {
  it('writes the classic header: magic a1b2c3d4 little-endian, v2.4, snaplen 262144, Ethernet', () => {
    const file = new PcapWriter().toBytes();
    expect(Buffer.from(file).toString('hex')).toBe('d4c3b2a1020004000000000000000000000004000' + '1000000');
  });

  it('writes records with second/microsecond timestamps and both lengths', () => {
    const frame = buildFrame(OUTER);
    const w = new PcapWriter()
      .add({ timestamp: TS, bytes: frame })
      .add({ timestamp: { seconds: 5, microseconds: 999_999 }, bytes: frame });
    expect(w.size).toBe(2);
    const file = w.toBytes();
    const v = view(file);
    expect(file.length).toBe(24 + 2 * (16 + frame.length));
    expect([
      v.getUint32(24, true),
      v.getUint32(28, true),
      v.getUint32(32, true),
      v.getUint32(36, true),
    ]).toEqual([1_700_000_000, 123_456, frame.length, frame.length]);
    expect(file.subarray(40, 40 + frame.length)).toEqual(frame);
    const second = 40 + frame.length;
    expect([v.getUint32(second, true), v.getUint32(second + 4, true)]).toEqual([5, 999_999]);
  });

  it('cuts frames to snaplen, keeps the original length, and copies bytes when added', () => {
    const frame = buildFrame(OUTER);
    const w = new PcapWriter({ snaplen: 64 });
    w.add({ timestamp: 0n, bytes: frame });
    frame.fill(0);
    const file = w.toBytes();
    expect(view(file).getUint32(16, true)).toBe(64);
    expect([view(file).getUint32(32, true), view(file).getUint32(36, true)]).toEqual([64, 108]);
    expect(file.subarray(40)).toEqual(buildFrame(OUTER).subarray(0, 64));
  });

  it('refuses timestamps and options it cannot write', () => {
    const bytes = new Uint8Array(14);
    const w = new PcapWriter();
    expect(() => w.add({ timestamp: -1n, bytes })).toThrow(EncodeError);
    expect(() => w.add({ timestamp: 2n ** 32n * 1_000_000_000n, bytes })).toThrow(/2106/);
    expect(() => w.add({ timestamp: { seconds: 1, microseconds: 1_000_000 }, bytes })).toThrow(
      /microseconds/,
    );
    expect(() => w.add({ timestamp: { seconds: 1.5, microseconds: 0 }, bytes })).toThrow(/seconds/);
    expect(() => w.add({ timestamp: 0n, bytes, originalLength: 3 })).toThrow(/originalLength/);
    expect(() => new PcapWriter({ snaplen: 0 })).toThrow(EncodeError);
  });
});

describe('PcapngWriter', () => {
  it('writes a section header, one interface block per device with if_name, and enhanced packet blocks', () => {
    const outer = buildFrame(OUTER);
    const inner = buildFrame(INNER);
    const w = new PcapngWriter();
    w.add({ device: 'eth0', timestamp: TS, bytes: outer });
    w.add({ device: 'flannel.1', timestamp: TS + 1000n, bytes: inner });
    w.add({ device: 'eth0', timestamp: { seconds: 1, microseconds: 2 }, bytes: outer.subarray(0, 61) });
    expect(w.addInterface('eth0')).toBe(0);
    const [shb, eth0, flannel, ...packets] = blocks(w.toBytes());
    expect(shb.type).toBe(0x0a0d0d0a);
    expect(view(shb.body).getUint32(0, true)).toBe(0x1a2b3c4d);
    expect([view(shb.body).getUint16(4, true), view(shb.body).getUint16(6, true)]).toEqual([1, 0]);
    expect(view(shb.body).getBigInt64(8, true)).toBe(-1n);
    for (const [idb, name] of [
      [eth0, 'eth0'],
      [flannel, 'flannel.1'],
    ] as const) {
      expect(idb.type).toBe(1);
      expect(view(idb.body).getUint16(0, true)).toBe(LINKTYPE_ETHERNET);
      expect(view(idb.body).getUint32(4, true)).toBe(262144);
      const opts = options(idb.body, 8);
      expect(new TextDecoder().decode(opts.get(2))).toBe(name);
      expect(opts.get(9)).toEqual(new Uint8Array([9]));
    }
    expect(packets.map((p) => p.type)).toEqual([6, 6, 6]);
    const epb = (p: Block) => {
      const v = view(p.body);
      const caplen = v.getUint32(12, true);
      return {
        id: v.getUint32(0, true),
        ns: (BigInt(v.getUint32(4, true)) << 32n) | BigInt(v.getUint32(8, true)),
        caplen,
        orig: v.getUint32(16, true),
        bytes: p.body.subarray(20, 20 + caplen),
      };
    };
    expect(epb(packets[0])).toEqual({
      id: 0,
      ns: TS,
      caplen: outer.length,
      orig: outer.length,
      bytes: outer,
    });
    expect(epb(packets[1])).toMatchObject({ id: 1, ns: TS + 1000n, bytes: inner });
    expect(epb(packets[2])).toMatchObject({ id: 0, ns: 1_000_002_000n, caplen: 61, orig: 61 });
  });

  it('applies per-interface snaplen and refuses bad input', () => {
    const w = new PcapngWriter();
    w.addInterface('short', { snaplen: 20 });
    w.add({ device: 'short', timestamp: 0n, bytes: new Uint8Array(30) });
    const [, idb, epb] = blocks(w.toBytes());
    expect(view(idb.body).getUint32(4, true)).toBe(20);
    expect([view(epb.body).getUint32(12, true), view(epb.body).getUint32(16, true)]).toEqual([20, 30]);
    expect(() => w.add({ device: '', timestamp: 0n, bytes: new Uint8Array(1) })).toThrow(EncodeError);
    expect(() => w.add({ device: 'x', timestamp: 2n ** 64n, bytes: new Uint8Array(1) })).toThrow(/64 bits/);
  });
});

const tool = (...paths: string[]) => paths.find((p) => existsSync(p));
const TCPDUMP = tool('/usr/bin/tcpdump', '/usr/sbin/tcpdump');
const TSHARK = tool('/usr/bin/tshark');
if (TCPDUMP === undefined)
  console.warn('pcap.test.ts: tcpdump not found in /usr/bin or /usr/sbin; skipping the tcpdump checks');
if (TSHARK === undefined)
  console.warn('pcap.test.ts: tshark not found in /usr/bin; skipping the pcapng interface-name check');

describe('files read by real tools', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-pcap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, bytes: Uint8Array) => {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });

  // 8472 is OTV to tcpdump; `-T vxlan` makes it decode UDP payloads as VXLAN.
  const expectVxlanSyn = (out: string) => {
    expect(out).toContain('VXLAN, flags [I] (0x08), vni 1');
    expect(out).toMatch(/192\.168\.50\.10\.36379 > 192\.168\.50\.11\.8472: VXLAN/);
    expect(out).toMatch(
      /10\.244\.0\.2\.42116 > 10\.244\.1\.3\.8080: Flags \[S\], .*seq 3373283786, win 64860, options \[mss 1410\], length 0/,
    );
  };

  it.skipIf(TCPDUMP === undefined)(
    'tcpdump decodes the pcap VXLAN frame and finds every checksum correct',
    () => {
      const frame = buildFrame(OUTER);
      expect(decodeFrame(frame).inner?.tcp?.checksumValid).toBe(true);
      const file = write('vxlan.pcap', new PcapWriter().add({ timestamp: TS, bytes: frame }).toBytes());
      const verbose = run(TCPDUMP!, ['-nn', '-v', '-T', 'vxlan', '-r', file]);
      expectVxlanSyn(verbose);
      expect(verbose).toContain('proto UDP (17), length 94');
      expect(verbose).toContain('flags [DF], proto TCP (6), length 44');
      const vv = run(TCPDUMP!, ['-nn', '-vv', '-T', 'vxlan', '-r', file]);
      expect(vv).toMatch(/Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\)/);
      expect(vv).not.toMatch(/bad cksum|incorrect/i);
      // Without -T, tcpdump checks the outer UDP checksum (and prints the payload as OTV).
      const outer = run(TCPDUMP!, ['-nn', '-vv', '-r', file]);
      expect(outer).toContain('[udp sum ok]');
      expect(outer).toMatch(/Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\)/);
      expect(outer).not.toMatch(/bad cksum|incorrect|bad udp/i);
      expect(run(TCPDUMP!, ['-tt', '-r', file]).match(/^\d+\.\d+ /gm)).toEqual(['1700000000.123456 ']);
    },
  );

  it.skipIf(TCPDUMP === undefined)('tcpdump reads the pcapng file with nanosecond timestamps', () => {
    const w = new PcapngWriter();
    w.add({ device: 'eth0', timestamp: TS, bytes: buildFrame(OUTER) });
    w.add({ device: 'flannel.1', timestamp: TS + 1n, bytes: buildFrame(INNER) });
    const file = write('vxlan.pcapng', w.toBytes());
    const out = run(TCPDUMP!, ['-nn', '-vv', '-T', 'vxlan', '-r', file]);
    expectVxlanSyn(out);
    expect(
      out.match(/10\.244\.0\.2\.42116 > 10\.244\.1\.3\.8080: Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\)/g),
    ).toHaveLength(2);
    expect(out).not.toMatch(/bad cksum|incorrect/i);
    const times = run(TCPDUMP!, ['-tt', '--nano', '-r', file]).match(/^\d+\.\d+ /gm);
    expect(times).toEqual(['1700000000.123456789 ', '1700000000.123456790 ']);
  });

  it.skipIf(TSHARK === undefined)('tshark names the device each pcapng frame was seen on', () => {
    const w = new PcapngWriter();
    w.add({ device: 'eth0', timestamp: TS, bytes: buildFrame(OUTER) });
    w.add({ device: 'flannel.1', timestamp: TS + 1n, bytes: buildFrame(INNER) });
    const file = write('devices.pcapng', w.toBytes());
    const out = run(TSHARK!, [
      '-r',
      file,
      '-d',
      'udp.port==8472,vxlan',
      '-T',
      'fields',
      '-e',
      'frame.interface_name',
      '-e',
      'vxlan.vni',
      '-e',
      'tcp.dstport',
    ]);
    expect(out.trim().split('\n')).toEqual(['eth0\t1\t8080', 'flannel.1\t\t8080']);
  });
});
