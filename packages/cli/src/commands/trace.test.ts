import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flannelStylePlan } from '@podnet/emulator';
import { bufferIo } from '../io.js';
import { main } from '../main.js';
import { traceCommand } from './trace.js';

const dir = mkdtempSync(join(tmpdir(), 'podnet-trace-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const plan = () => flannelStylePlan({ nodes: 2, podsPerNode: 1 });

describe('podnet trace (on an injected plan)', () => {
  it('prints one line per hop, the verdict and the reply; exit 0 when delivered', async () => {
    const io = bufferIo('', dir);
    const code = await traceCommand(plan(), { from: 'default/pod-0-0', to: 'default/pod-1-0:80' }, io);
    expect(code).toBe(0);
    const lines = io.stdout.split('\n');
    expect(lines[0]).toBe('trace tcp default/pod-0-0 (10.244.0.2) → 10.244.1.2:80');
    expect(lines).toContain('verdict: delivered to default/pod-1-0 (10.244.1.2:80) on node-1');
    expect(io.stdout).toMatch(
      /\n +\d+ {2}node-0 flannel\.1 {2}vxlan-encap: fdb [0-9a-f:]{17} dst 192\.168\.50\.11 self permanent; vni 1, udp 192\.168\.50\.10:\d+ > 192\.168\.50\.11:8472 {2}\(10\.244\.0\.2:\d+ > 10\.244\.1\.2:80 tcp \[S\] ttl 63 len 40 in vxlan vni 1 192\.168\.50\.10:\d+ > 192\.168\.50\.11:8472\)\n/,
    );
    expect(io.stdout).toMatch(
      /\n +\d+ {2}node-0\/default\/pod-0-0 eth0 {2}send: tcp connect to 10\.244\.1\.2:80 from port \d+/,
    );
    expect(io.stdout).toMatch(
      /\n +\d+ {2}fabric 192\.168\.50\.0\/24 {2}switch: [0-9a-f:]{17} → node-1 eth0 {2}\(/,
    );
    expect(lines.find((l) => l.startsWith('reply: '))).toMatch(
      /^reply: delivered to default\/pod-0-0 \(10\.244\.0\.2:\d+\) on node-0$/,
    );
  });

  it('-o json follows the trace contract; exit 1 when not delivered', async () => {
    const io = bufferIo('', dir);
    const code = await traceCommand(
      plan(),
      { from: 'default/pod-0-0', to: '10.244.1.2:81', output: 'json' },
      io,
    );
    expect(code).toBe(1);
    const j = JSON.parse(io.stdout);
    expect(j.verdict).toBe('rejected');
    expect(j.reason).toBe('tcp port 81 closed in node-1/default/pod-1-0 (TCP RST)');
    expect(j.delivered).toBeUndefined();
    expect(j.pcap).toBeUndefined();
    for (const h of [...j.hops, ...j.reply.hops]) {
      expect(Object.keys(h)).toEqual(
        expect.arrayContaining(['node', 'netns', 'device', 'step', 'detail', 'packet']),
      );
      expect(Object.keys(h.packet)).toEqual(expect.arrayContaining(['src', 'dst', 'proto']));
    }
    const encap = j.hops.find((h: { step: string }) => h.step === 'vxlan-encap');
    expect(encap.packet.encap).toEqual({
      type: 'vxlan',
      vni: 1,
      outerSrc: '192.168.50.10',
      outerDst: '192.168.50.11',
      dport: 8472,
      sport: expect.any(Number),
    });
    expect(j.reply.verdict).toBe('delivered');
  });

  it('--pcap writes a pcapng file', async () => {
    const io = bufferIo('', dir);
    const code = await traceCommand(
      plan(),
      { from: 'default/pod-0-0', to: '10.244.1.2:80', pcap: 'out.pcapng' },
      io,
    );
    expect(code).toBe(0);
    const bytes = readFileSync(join(dir, 'out.pcapng'));
    expect(bytes.readUInt32LE(0)).toBe(0x0a0d0d0a);
    expect(io.stderr).toBe(`wrote ${bytes.length} bytes of pcapng to out.pcapng\n`);
  });

  it('a UDP trace, a closed UDP port, and icmp', async () => {
    const io = bufferIo('', dir);
    expect(
      await traceCommand(plan(), { from: 'default/pod-0-0', to: '10.244.1.2', proto: 'udp', port: 5353 }, io),
    ).toBe(0);
    expect(
      await traceCommand(plan(), { from: 'default/pod-0-0', to: '10.244.1.2', proto: 'udp', port: 9 }, io),
    ).toBe(1);
    expect(await traceCommand(plan(), { from: 'external', to: '192.168.50.11', proto: 'icmp' }, io)).toBe(0);
    expect(io.stdout).toContain(
      'verdict: rejected: udp port 9 closed in node-1/default/pod-1-0 (ICMP port unreachable)',
    );
    expect(io.stdout).toContain('trace icmp external (203.0.113.10) → 192.168.50.11');
  });
});

describe('podnet trace (command line)', () => {
  const run = async (args: string[]) => {
    const io = bufferIo('', dir);
    return { code: await main(args, io), err: io.stderr };
  };

  it('refuses bad arguments with exit 2 before reading manifests', async () => {
    expect(await run(['trace', '-f', 'x.yaml', '--to', '10.0.0.1'])).toEqual({
      code: 2,
      err: '--from: give the source: NS/POD, node/NAME or external\n',
    });
    expect(await run(['trace', '-f', 'x.yaml', '--from', 'a/b'])).toEqual({
      code: 2,
      err: '--to: give the destination: IP[:PORT] or NS/POD[:PORT]\n',
    });
    expect(
      (await run(['trace', '-f', 'x.yaml', '--from', 'a/b', '--to', '1.2.3.4', '--proto', 'sctp'])).err,
    ).toBe('--proto: "sctp" is not tcp, udp or icmp\n');
    expect(
      (await run(['trace', '-f', 'x.yaml', '--from', 'a/b', '--to', '1.2.3.4', '--size', '10'])).err,
    ).toBe('--size: "10" must be an integer 28-65535\n');
    expect(
      (await run(['trace', '-f', 'x.yaml', '--from', 'a/b', '--to', '1.2.3.4', '-o', 'yaml'])).code,
    ).toBe(2);
  });

  it('is listed in podnet --help', async () => {
    const io = bufferIo('', dir);
    await main(['--help'], io);
    expect(io.stdout).toMatch(/\n {2}trace +follow one packet hop by hop/);
  });
});
