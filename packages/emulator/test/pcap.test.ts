import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emulator, flannelStylePlan } from '@podnet/emulator';

function has(bin: string): boolean {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'podnet-emu-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function crossNodePcap(): Promise<string> {
  const net = await emulator().apply(flannelStylePlan({ nodes: 2 }));
  const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80', pcap: true });
  expect(r.verdict).toBe('delivered');
  const file = join(dir, `trace-${Math.random().toString(36).slice(2)}.pcapng`);
  writeFileSync(file, r.pcap!);
  return file;
}

describe('pcap of a cross-node VXLAN trace', () => {
  it('is pcapng with one interface per node/netns/device', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80', pcap: true });
    const bytes = r.pcap!;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint32(0, true)).toBe(0x0a0d0d0a);
    const names: string[] = [];
    for (let o = view.getUint32(4, true); o < bytes.length; o += view.getUint32(o + 4, true)) {
      if (view.getUint32(o, true) === 1) {
        const len = view.getUint16(o + 18, true);
        names.push(new TextDecoder().decode(bytes.subarray(o + 20, o + 20 + len)));
      }
    }
    expect(names).toContain('node-0/default/pod-0-0/eth0');
    expect(names).toContain('node-0/root/flannel.1');
    expect(names).toContain('node-0/root/eth0');
    expect(names).toContain('node-1/root/eth0');
    expect(names).toContain('node-1/default/pod-1-0/eth0');
    expect(new Set(names).size).toBe(names.length);
  });

  it.runIf(has('tcpdump'))('tcpdump -nn -vv reads it: UDP 8472, VNI 1, the inner pod-to-pod SYN, valid checksums', async () => {
    const file = await crossNodePcap();
    const out = execFileSync('tcpdump', ['-nn', '-vv', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    // tcpdump names UDP 8472 OTV by default; the header is VXLAN's (flags I, instance = VNI).
    expect(out).toMatch(/192\.168\.50\.10\.\d+ > 192\.168\.50\.11\.8472: \[udp sum ok\] OTV, flags \[I\] \(0x08\), overlay 0, instance 1\n\s*IP \(tos 0x0, ttl 63, id \d+, offset 0, flags \[DF\], proto TCP \(6\), length 40\)\n\s*10\.244\.0\.2\.\d+ > 10\.244\.1\.2\.80: Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\)/);
    expect(out).toMatch(/10\.244\.1\.2\.80 > 10\.244\.0\.2\.\d+: Flags \[S\.\], cksum 0x[0-9a-f]{4} \(correct\)/);
    expect(out).not.toMatch(/incorrect|bad cksum|\[bad udp cksum/);
    const vx = execFileSync('tcpdump', ['-nn', '-vv', '-T', 'vxlan', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(vx).toMatch(/192\.168\.50\.10\.\d+ > 192\.168\.50\.11\.8472: VXLAN, flags \[I\] \(0x08\), vni 1\n/);
  });

  it.runIf(has('tshark'))('tshark decodes VXLAN VNI 1 and finds every IP, UDP and TCP checksum good', async () => {
    const file = await crossNodePcap();
    const out = execFileSync(
      'tshark',
      ['-r', file, '-d', 'udp.port==8472,vxlan', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-e', 'vxlan.vni', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'tcp.checksum.status', '-Y', 'vxlan'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const rows = out.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.length).toBeGreaterThanOrEqual(4);
    for (const [vni, src, dst, ipOk, udpOk, tcpOk] of rows) {
      expect(vni).toBe('1');
      expect(src.split(',')).toHaveLength(2); // outer and inner IP headers
      const ends = ['192.168.50.10,10.244.0.2', '192.168.50.11,10.244.1.2'];
      expect(ends).toContain(src);
      expect(ends.filter((e) => e !== src)).toEqual([dst]);
      expect(ipOk).toBe('1,1');
      expect(udpOk).toBe('1');
      expect(tcpOk).toBe('1');
    }
  });
});

describe('pcap of a fragmented datagram', () => {
  it.runIf(has('tshark'))('holds the real IPv4 fragments: MF and offsets, each in its own VXLAN packet, reassembled by tshark', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podMtu: 1500 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:5353', proto: 'udp', size: 1500, df: false, pcap: true });
    expect(r.verdict).toBe('delivered');
    const file = join(dir, 'frag.pcapng');
    writeFileSync(file, r.pcap!);
    const fields = ['-e', 'frame.interface_name', '-e', 'ip.len', '-e', 'ip.flags.mf', '-e', 'ip.frag_offset', '-e', 'ip.checksum.status'];
    const out = execFileSync(
      'tshark',
      ['-r', file, '-o', 'ip.defragment:FALSE', '-o', 'ip.check_checksum:TRUE', '-d', 'udp.port==8472,vxlan', '-T', 'fields', ...fields, '-Y', 'ip.dst == 10.244.1.2 && !icmp'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const rows = out.trim().split('\n').map((l) => l.split('\t'));
    const at = (dev: string) => rows.filter((row) => row[0] === dev).map((row) => row.slice(1));
    // The pod and the bridge carry the whole 1500-byte datagram; flannel.1 sends two fragments.
    expect(at('node-0/default/pod-0-0/eth0')).toEqual([['1500', '0', '0', '1']]);
    expect(at('node-0/root/flannel.1')).toEqual([
      ['1444', '1', '0', '1'],
      ['76', '0', '178', '1'],
    ]);
    // On the underlay each fragment is the inner packet of its own (whole) VXLAN datagram.
    expect(at('node-0/root/eth0')).toEqual([
      ['1494,1444', '0,1', '0,0', '1,1'],
      ['126,76', '0,0', '0,178', '1,1'],
    ]);
    expect(at('node-1/default/pod-1-0/eth0')).toHaveLength(2);
    const whole = execFileSync(
      'tshark',
      ['-r', file, '-o', 'ip.defragment:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-e', 'udp.length', '-e', 'udp.checksum.status', '-Y', 'frame.interface_name == "node-1/default/pod-1-0/eth0" && udp.dstport == 5353 && !icmp'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(whole.trim()).toBe('1480\t1');
  });
});
