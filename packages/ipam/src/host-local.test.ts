import { InvalidArgumentError, IpamExhaustedError, PodnetError } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import { parseCniConfig, toCniError, toCniResult } from './cni.js';
import { hostLocal } from './host-local.js';

const add = (ipam: ReturnType<typeof hostLocal>, containerId: string, ips?: string[], ifname = 'eth0') =>
  ipam.allocate({ containerId, ifname, ips }).then((a) => a.map((x) => x.address));

async function rejection(p: Promise<unknown>): Promise<PodnetError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!PodnetError.is(e)) throw new Error(`expected a PodnetError, got ${String(e)}`);
  return e;
}

describe('hostLocal range semantics', () => {
  it('hands out rangeStart onwards, skipping the gateway, and rotates after the last reserved address', async () => {
    // Sequence and results recorded from containernetworking-plugins 1.1.1's host-local binary.
    const ipam = hostLocal({ ranges: [[{ subnet: '10.1.2.0/29' }], [{ subnet: 'fd00::/125' }]] });
    expect(await add(ipam, 'c1')).toEqual(['10.1.2.2/29', 'fd00::2/125']);
    expect(await add(ipam, 'c2')).toEqual(['10.1.2.3/29', 'fd00::3/125']);
    expect(await add(ipam, 'c3')).toEqual(['10.1.2.4/29', 'fd00::4/125']);
    await ipam.release('c2', 'eth0');
    expect(await add(ipam, 'c4')).toEqual(['10.1.2.5/29', 'fd00::5/125']);
    expect(await add(ipam, 'c5')).toEqual(['10.1.2.6/29', 'fd00::6/125']);
    // IPv4 wraps to the freed .3; IPv6 (no broadcast) still has ::7.
    expect(await add(ipam, 'c6')).toEqual(['10.1.2.3/29', 'fd00::7/125']);
    const e = await rejection(add(ipam, 'c7'));
    expect(e).toBeInstanceOf(IpamExhaustedError);
    expect(e.retryable).toBe(true);
    expect((e as IpamExhaustedError).family).toBe(4);
    expect(e.message).toBe(
      'failed to allocate for range 0: no IP addresses available in range set: 10.1.2.1-10.1.2.6',
    );
    // Nothing of c7 stays reserved.
    expect((await ipam.list()).filter((r) => r.containerId === 'c7')).toEqual([]);
  });

  it('reports the gateway with each address and defaults it to the network address + 1', async () => {
    const ipam = hostLocal({ ranges: [[{ subnet: '10.9.0.0/24', gateway: '10.9.0.254' }]] });
    const [a] = await ipam.allocate({ containerId: 'x', ifname: 'eth0' });
    expect(a).toEqual({ address: '10.9.0.1/24', gateway: '10.9.0.254', family: 4 });
    const [b] = await hostLocal({ subnet: '10.8.0.0/24' }).allocate({ containerId: 'x', ifname: 'eth0' });
    expect(b).toEqual({ address: '10.8.0.2/24', gateway: '10.8.0.1', family: 4 });
  });

  it('walks the ranges of one set in order and wraps from the last to the first', async () => {
    const ipam = hostLocal({
      ranges: [
        [
          { subnet: '10.20.0.0/30' },
          { subnet: '10.20.1.0/29', rangeStart: '10.20.1.3', rangeEnd: '10.20.1.5', gateway: '10.20.1.4' },
        ],
      ],
    });
    expect(ipam.rangeSets).toEqual(['10.20.0.1-10.20.0.2,10.20.1.3-10.20.1.5']);
    expect(await add(ipam, 'a')).toEqual(['10.20.0.2/30']);
    expect(await add(ipam, 'b')).toEqual(['10.20.1.3/29']);
    expect(await add(ipam, 'c')).toEqual(['10.20.1.5/29']);
    await ipam.release('a', 'eth0');
    expect(await add(ipam, 'd')).toEqual(['10.20.0.2/30']);
    await expect(add(ipam, 'e')).rejects.toBeInstanceOf(IpamExhaustedError);
  });

  it('never hands out the network or the IPv4 broadcast address', async () => {
    const ipam = hostLocal({ ranges: [[{ subnet: '10.30.0.0/28' }]] });
    const got: string[] = [];
    for (let i = 0; i < 13; i++) got.push(...(await add(ipam, `c${i}`)));
    expect(got).toHaveLength(13);
    expect(got).not.toContain('10.30.0.0/28');
    expect(got).not.toContain('10.30.0.15/28');
    expect(got).not.toContain('10.30.0.1/28');
    await expect(add(ipam, 'full')).rejects.toBeInstanceOf(IpamExhaustedError);
  });

  it('honours requested addresses and records them as the last reserved', async () => {
    const ipam = hostLocal({ ranges: [[{ subnet: '10.1.5.0/24' }]] });
    expect(await add(ipam, 'c2', ['10.1.5.9'])).toEqual(['10.1.5.9/24']);
    const taken = await rejection(add(ipam, 'c3', ['10.1.5.9']));
    expect(taken.code).toBe('PODNET_IPAM_CONFLICT');
    expect(taken.message).toBe(
      'failed to allocate for range 0: requested IP address 10.1.5.9 is not available in range set 10.1.5.1-10.1.5.254',
    );
    const gw = await rejection(add(ipam, 'c3', ['10.1.5.1']));
    expect(gw.code).toBe('PODNET_IPAM_CONFLICT');
    expect(gw.message).toBe("failed to allocate for range 0: requested ip 10.1.5.1 is subnet's gateway");
    // Outside every range set: allocated dynamically, then rolled back (the rotation still advances).
    const outside = await rejection(add(ipam, 'c3', ['10.1.6.0']));
    expect(outside.code).toBe('PODNET_IPAM_CONFLICT');
    expect(outside.message).toBe('failed to allocate all requested IPs: 10.1.6.0');
    expect((await ipam.list()).map((r) => r.containerId)).toEqual(['c2']);
    expect(await add(ipam, 'c4')).toEqual(['10.1.5.11/24']);
  });

  it('refuses a second address for the same attachment in one range set, but not another interface', async () => {
    const ipam = hostLocal({ ranges: [[{ subnet: '10.1.5.0/24' }]] });
    await add(ipam, 'c1');
    const dup = await rejection(add(ipam, 'c1'));
    expect(dup.code).toBe('PODNET_IPAM_CONFLICT');
    expect(dup.message).toBe(
      'failed to allocate for range 0: 10.1.5.2 has been allocated to c1, duplicate allocation is not allowed',
    );
    expect(await add(ipam, 'c1', undefined, 'eth1')).toEqual(['10.1.5.3/24']);
    expect(await ipam.check('c1', 'eth1')).toBe(true);
    await ipam.release('c1', 'eth0');
    expect(await ipam.check('c1', 'eth0')).toBe(false);
    expect(await ipam.check('c1', 'eth1')).toBe(true);
  });

  it('rolls back the first family when the second cannot be served', async () => {
    const ipam = hostLocal({ ranges: [[{ subnet: '10.40.0.0/24' }], [{ subnet: 'fd40::/126' }]] });
    expect(await add(ipam, 'a')).toEqual(['10.40.0.2/24', 'fd40::2/126']);
    expect(await add(ipam, 'b')).toEqual(['10.40.0.3/24', 'fd40::3/126']);
    const e = await rejection(add(ipam, 'c'));
    expect(e).toBeInstanceOf(IpamExhaustedError);
    expect((e as IpamExhaustedError).family).toBe(6);
    expect(e.message).toBe(
      'failed to allocate for range 1: no IP addresses available in range set: fd40::1-fd40::3',
    );
    expect((await ipam.list()).some((r) => r.containerId === 'c')).toBe(false);
  });

  it('releases idempotently, and GC drops exactly the attachments not in the live list', async () => {
    const ipam = hostLocal({ ranges: [[{ subnet: '10.50.0.0/24' }], [{ subnet: 'fd50::/64' }]] });
    for (const id of ['a', 'b', 'c', 'd']) await add(ipam, id);
    await add(ipam, 'a', undefined, 'net1');
    await ipam.release('nobody', 'eth0');
    await ipam.release('b', 'eth0');
    await ipam.release('b', 'eth0');
    const released = await ipam.gc([
      { containerId: 'a', ifname: 'eth0' },
      { containerId: 'd', ifname: 'eth0' },
    ]);
    expect(released).toEqual(['10.50.0.4', '10.50.0.6', 'fd50::4', 'fd50::6']);
    const left = (await ipam.list()).map((r) => `${r.containerId}/${r.ifname}`).sort();
    expect(left).toEqual(['a/eth0', 'a/eth0', 'd/eth0', 'd/eth0']);
    expect(await ipam.gc([])).toHaveLength(4);
    expect(await ipam.list()).toEqual([]);
  });
});

describe('hostLocal configuration errors', () => {
  const cases: [string, Parameters<typeof hostLocal>[0], string][] = [
    ['no ranges', {}, 'ranges: no IP ranges specified'],
    ['empty set', { ranges: [[]] }, 'ranges[0]: empty range set'],
    [
      'host bits',
      { ranges: [[{ subnet: '10.1.2.5/24' }]] },
      'ranges[0][0].subnet: network has host bits set',
    ],
    [
      'too small',
      { ranges: [[{ subnet: '10.1.2.0/31' }]] },
      'ranges[0][0].subnet: network 10.1.2.0/31 too small',
    ],
    ['bad cidr', { ranges: [[{ subnet: 'nope' }]] }, 'ranges[0][0].subnet: invalid CIDR "nope"'],
    [
      'start outside',
      { ranges: [[{ subnet: '10.1.3.0/24', rangeStart: '10.1.4.1' }]] },
      'ranges[0][0].rangeStart: 10.1.4.1 not in network',
    ],
    [
      'gateway outside',
      { ranges: [[{ subnet: '10.1.3.0/24', gateway: '10.1.4.1' }]] },
      'ranges[0][0].gateway: 10.1.4.1 not in network',
    ],
    [
      'network start',
      { ranges: [[{ subnet: '10.1.3.0/24', rangeStart: '10.1.3.0' }]] },
      'is the network address',
    ],
    [
      'broadcast end',
      { ranges: [[{ subnet: '10.1.3.0/24', rangeEnd: '10.1.3.255' }]] },
      'is the broadcast address',
    ],
    [
      'start after end',
      { ranges: [[{ subnet: '10.1.3.0/24', rangeStart: '10.1.3.9', rangeEnd: '10.1.3.8' }]] },
      'is after rangeEnd',
    ],
    [
      'mixed families',
      { ranges: [[{ subnet: '10.1.7.0/24' }, { subnet: 'fd00::/64' }]] },
      'ranges[0][1]: mixed address families',
    ],
    [
      'overlap in set',
      { ranges: [[{ subnet: '10.1.7.0/24' }, { subnet: '10.1.7.0/25' }]] },
      'subnets 10.1.7.1-10.1.7.254 and 10.1.7.1-10.1.7.126 overlap',
    ],
    [
      'overlap across sets',
      { ranges: [[{ subnet: '10.1.7.0/24' }], [{ subnet: '10.1.7.128/25' }]] },
      'range set 0 overlaps with 1',
    ],
    ['not an object', { ranges: [['10.0.0.0/8' as never]] }, 'ranges[0][0]: expected an object'],
    ['ranges not a list', { ranges: '10.0.0.0/8' as never }, 'ranges: expected an array of range sets'],
    [
      'bad route',
      { subnet: '10.0.0.0/24', routes: [{ dst: 'default' }] },
      'routes[0].dst: invalid CIDR "default"',
    ],
  ];
  it.each(cases)('%s', (_name, options, message) => {
    let err: unknown;
    try {
      hostLocal(options);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(message);
  });

  it('refuses a request without container ID or interface', async () => {
    const ipam = hostLocal({ ranges: [[{ subnet: '10.1.0.0/24' }]] });
    await expect(ipam.allocate({ containerId: '', ifname: 'eth0' })).rejects.toThrow(
      /containerId: expected a non-empty string/,
    );
    await expect(ipam.allocate({ containerId: 'c', ifname: 'eth0', ips: ['10.1.0.300'] })).rejects.toThrow(
      /ips\[0\]: invalid IP/,
    );
    await expect(ipam.gc([{ containerId: 'c' } as never])).rejects.toThrow(/live\[0\]\.ifname/);
    await expect(ipam.release('c', '')).rejects.toThrow(InvalidArgumentError);
    expect(await ipam.list()).toEqual([]);
  });
});

describe('CNI face', () => {
  it('shapes the ADD result as host-local prints it', () => {
    const allocs = [
      { address: '10.1.2.2/29', gateway: '10.1.2.1', family: 4 as const },
      { address: 'fd00::2/125', gateway: 'fd00::1', family: 6 as const },
    ];
    expect(JSON.stringify(toCniResult(allocs))).toBe(
      '{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.2/29","gateway":"10.1.2.1"},{"address":"fd00::2/125","gateway":"fd00::1"}],"dns":{}}',
    );
    expect(
      JSON.stringify(
        toCniResult(allocs.slice(0, 1), { cniVersion: '0.4.0', routes: [{ dst: '0.0.0.0/0' }] }),
      ),
    ).toBe(
      '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.2.2/29","gateway":"10.1.2.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}',
    );
    expect(() => toCniResult(allocs, { cniVersion: '0.2.0' })).toThrow(InvalidArgumentError);
  });

  it('maps errors onto CNI error codes', () => {
    expect(toCniError(new IpamExhaustedError('10.0.0.1-10.0.0.6', 4))).toEqual({
      cniVersion: '1.0.0',
      code: 11,
      msg: 'no free IPv4 address left in 10.0.0.1-10.0.0.6',
    });
    expect(toCniError(new InvalidArgumentError('ranges', 'no IP ranges specified')).code).toBe(7);
    expect(toCniError(new PodnetError('PODNET_IPAM_CONFLICT', 'taken'), '0.4.0')).toEqual({
      cniVersion: '0.4.0',
      code: 999,
      msg: 'taken',
    });
  });

  it('reads a network config: range order, requested IPs from CNI_ARGS, args and runtimeConfig', () => {
    const inv = parseCniConfig(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'net1',
        ipam: {
          type: 'host-local',
          subnet: '10.2.0.0/24',
          ranges: [[{ subnet: '10.3.0.0/24' }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
        runtimeConfig: { ipRanges: [[{ subnet: '10.1.0.0/24' }]], ips: ['10.1.0.9/24'] },
        args: { cni: { ips: ['10.3.0.7'] } },
      }),
      'IgnoreUnknown=1;IP=10.2.0.5',
    );
    expect(inv.options.ranges?.map((s) => s[0].subnet)).toEqual([
      '10.1.0.0/24',
      '10.2.0.0/24',
      '10.3.0.0/24',
    ]);
    expect(inv.ips).toEqual(['10.2.0.5', '10.3.0.7', '10.1.0.9']);
    expect(inv.options).toMatchObject({ store: 'file', network: 'net1', dataDir: '/var/lib/cni/networks' });
    expect(() => parseCniConfig('{"cniVersion":"1.0.0","name":"n"}')).toThrow(
      /IPAM config missing 'ipam' key/,
    );
    expect(() => parseCniConfig('{not json')).toThrow(InvalidArgumentError);
  });
});
