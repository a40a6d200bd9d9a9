import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../errors.js';
import { ARP_REPLY, ARP_REQUEST, arp } from './arp.js';
import { arb, CAPTURES, fuzz, hex, reencodes } from './test-support.js';

const arpOf = (frame: Uint8Array) => frame.subarray(14);

describe('arp', () => {
  it('round-trips any packet', () => {
    fc.assert(
      fc.property(
        fc.record({
          op: arb.u16,
          senderMac: arb.mac,
          senderIp: arb.ipv4,
          targetMac: arb.mac,
          targetIp: arb.ipv4,
        }),
        (a) => {
          const bytes = arp.encode(a);
          expect(bytes.length).toBe(arp.encodingLength(a));
          expect(arp.decode(bytes)).toEqual(a);
        },
      ),
    );
  });

  it('decodes a captured request and reply, and encodes them back byte for byte', () => {
    const request = {
      op: ARP_REQUEST,
      senderMac: '02:00:00:00:00:0a',
      senderIp: '192.168.50.10',
      targetMac: '00:00:00:00:00:00',
      targetIp: '192.168.50.11',
    };
    const reply = {
      op: ARP_REPLY,
      senderMac: '02:00:00:00:00:0b',
      senderIp: '192.168.50.11',
      targetMac: '02:00:00:00:00:0a',
      targetIp: '192.168.50.10',
    };
    expect(arp.decode(arpOf(CAPTURES.arpRequest))).toEqual(request);
    expect(arp.decode(arpOf(CAPTURES.arpReply))).toEqual(reply);
    expect(arp.encode(request)).toEqual(arpOf(CAPTURES.arpRequest));
    expect(arp.encode(reply)).toEqual(arpOf(CAPTURES.arpReply));
  });

  it('ignores Ethernet padding after the 28 bytes', () => {
    const padded = Uint8Array.from([...arpOf(CAPTURES.arpRequest), ...new Uint8Array(18)]);
    expect(arp.decode(padded).targetIp).toBe('192.168.50.11');
  });

  it('refuses other hardware and protocol types', () => {
    const ieee802 = hex('0006080006040001' + '00'.repeat(20));
    expect(() => arp.decode(ieee802)).toThrow(DecodeError);
    const ipv6 = hex('000186dd06040001' + '00'.repeat(20));
    expect(() => arp.decode(ipv6)).toThrow(/not IPv4/);
    expect(() =>
      arp.encode({ op: 1, senderMac: 'x', senderIp: '1.2.3.4', targetMac: '', targetIp: '' }),
    ).toThrow(EncodeError);
  });

  it('throws only DecodeError on fuzzed input', () => {
    const seeds = [arpOf(CAPTURES.arpRequest), arpOf(CAPTURES.arpReply)];
    const r = fuzz(arp.decode, seeds, { seed: 0xa4, maxLength: 40, onDecoded: reencodes(arp) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});
