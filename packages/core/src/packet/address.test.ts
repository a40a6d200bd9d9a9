import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv4, formatIpv6, formatMac, parseIpv4, parseIpv6, parseMac } from './address.js';

const canon6 = (text: string) => {
  const b = parseIpv6(text);
  return b === undefined ? undefined : formatIpv6(b);
};

// WHATWG URL serializes IPv6 hosts as RFC 5952 does, except that it never uses the dotted form.
const viaUrl = (text: string) => new URL(`http://[${text}]/`).hostname.slice(1, -1);

describe('IPv6 text', () => {
  it.each([
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:DB8::AB:0', '2001:db8::ab:0'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fe80:0:0:0:858:aff:fef4:103', 'fe80::858:aff:fef4:103'],
    ['::ffff:c000:0201', '::ffff:192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ])('%s is %s (RFC 5952)', (text, expected) => {
    expect(canon6(text)).toBe(expected);
  });

  it.each([
    '',
    ':',
    ':::',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1::2::3',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '12345::',
    'g::1',
    'fe80::1%eth0',
    '::ffff:1.2.3',
    '::ffff:1.2.3.256',
    '::ffff:01.2.3.4',
    '1.2.3.4::',
    '::1.2.3.4:1',
    '1:2:3:4:5:6:7:1.2.3.4',
  ])('rejects %j', (text) => {
    expect(parseIpv6(text)).toBeUndefined();
  });

  it('matches the WHATWG URL serializer for any valid text', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const ours = canon6(text);
        expect(ours).toBeDefined();
        const url = viaUrl(text);
        if (ours?.startsWith('::ffff:') && ours.includes('.')) expect(viaUrl(ours)).toBe(url);
        else expect(ours).toBe(url);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts exactly what node:net accepts', () => {
    const text = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 });
    fc.assert(
      fc.property(fc.oneof(text, fc.ipV6()), (t) => {
        expect(parseIpv6(t) !== undefined).toBe(isIPv6(t));
      }),
      { numRuns: 5000 },
    );
  });

  it('formats then parses back to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        expect(parseIpv6(formatIpv6(b))).toEqual(b);
      }),
    );
  });
});

describe('IPv4 text', () => {
  it('parses and formats dotted quads', () => {
    expect(parseIpv4('10.244.0.2')).toEqual(new Uint8Array([10, 244, 0, 2]));
    expect(formatIpv4(new Uint8Array([0, 192, 168, 50, 11]), 1)).toBe('192.168.50.11');
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    ' 1.2.3.4',
    '1.2.3.-4',
    '1..2.3',
    '0x1.2.3.4',
  ])('rejects %j', (t) => {
    expect(parseIpv4(t)).toBeUndefined();
  });

  it('accepts exactly what node:net accepts', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789.'), maxLength: 16 }), fc.ipV4()),
        (t) => {
          expect(parseIpv4(t) !== undefined).toBe(isIPv4(t));
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('MAC text', () => {
  it('parses any case and formats lowercase', () => {
    const b = parseMac('0A:58:0a:F4:00:02');
    expect(b).toEqual(new Uint8Array([0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x02]));
    expect(formatMac(b!)).toBe('0a:58:0a:f4:00:02');
  });

  it.each([
    '',
    '0a:58:0a:f4:00',
    '0a-58-0a-f4-00-02',
    '0a:58:0a:f4:00:2',
    '0a:58:0a:f4:00:02:03',
    'zz:58:0a:f4:00:02',
  ])('rejects %j', (t) => {
    expect(parseMac(t)).toBeUndefined();
  });
});
