/**
 * The emulator against the kernel: every scenario's rule text is loaded into a real router
 * namespace (iptables-restore / ip6tables-restore / nft -f) and into the emulator; the same TCP
 * and UDP connections are made through both (real sockets between a client and a server
 * namespace), and the verdict, the addresses the listener saw (DNAT/SNAT), the reply reaching
 * the client un-NATed, and the `conntrack -L` entries must agree. Random branches (statistic,
 * numgen) are matched by enumerating the emulator's paths and following the one the kernel took.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConntrackLine } from './conntrack.js';
import { ADDR as A, type Outcome, SCENARIOS, type Scenario, type Send } from './differential-scenarios.js';
import { enumeratePaths, replayChooser } from './chooser.js';
import { NetfilterHarness, type PacketOutcome } from './harness.js';
import { hostPort, type IpFamily } from './packet.js';
import type { RejectSpec } from './types.js';

const PREFIX = `pndiff-${process.pid}-`;
const NS = { c: `${PREFIX}c`, r: `${PREFIX}r`, s: `${PREFIX}s` };

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const missing = ['ip', 'iptables-restore', 'ip6tables-restore', 'nft', 'conntrack'].filter((c) => !have(c));
const reason =
  process.getuid?.() !== 0
    ? 'not root'
    : process.platform !== 'linux'
      ? 'not Linux'
      : missing.length
        ? `missing ${missing.join(', ')}`
        : '';
if (reason) console.log(`differential.linux.test.ts skipped: ${reason}`);

function sh(args: string[], input?: string): string {
  return execFileSync(args[0], args.slice(1), { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

function inNs(ns: string, args: string[], input?: string): string {
  return sh(['ip', 'netns', 'exec', ns, ...args], input);
}

/** Listens on addresses/ports and reports what each connection looked like; makes connections on request. */
const AGENT = String.raw`
const net = require('net'), dgram = require('dgram'), readline = require('readline');
const cfg = JSON.parse(process.argv[1]);
const norm = (a) => (a.startsWith('::ffff:') ? a.slice(7) : a);
let pending = 1;
const ready = () => { if (--pending === 0) process.stdout.write('ready\n'); };
for (const addr of cfg.listen) {
  for (const port of cfg.tcp) {
    pending++;
    net.createServer((c) => {
      c.on('error', () => {});
      c.end(JSON.stringify({ agent: cfg.name, peer: norm(c.remoteAddress), peerPort: c.remotePort, local: norm(c.localAddress), localPort: c.localPort }));
    }).on('error', (e) => process.stdout.write('error ' + e.message + '\n')).listen({ host: addr, port }, ready);
  }
  for (const port of cfg.udp) {
    pending++;
    const s = dgram.createSocket(addr.includes(':') ? 'udp6' : 'udp4');
    s.on('message', (m, r) => s.send(JSON.stringify({ agent: cfg.name, peer: norm(r.address), peerPort: r.port, local: addr, localPort: port }), r.port, r.address));
    s.on('error', (e) => process.stdout.write('error ' + e.message + '\n'));
    s.bind(port, addr, ready);
  }
}
ready();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const q = JSON.parse(line);
  let done = false;
  let cleanup = () => {};
  const reply = (o) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    process.stdout.write(JSON.stringify({ id: q.id, ...o }) + '\n');
    try { cleanup(); } catch {}
  };
  const timer = setTimeout(() => reply({ ok: false, code: 'TIMEOUT' }), q.timeout);
  if (q.proto === 'tcp') {
    let buf = '';
    const c = net.connect({ host: q.dst, port: q.port, localAddress: q.src, localPort: q.sport });
    cleanup = () => c.destroy();
    c.on('data', (d) => (buf += d));
    c.on('end', () => { try { reply({ ok: true, data: JSON.parse(buf) }); } catch { reply({ ok: false, code: 'BADREPLY' }); } });
    c.on('error', (e) => reply({ ok: false, code: e.code }));
  } else {
    const s = dgram.createSocket(q.dst.includes(':') ? 'udp6' : 'udp4');
    cleanup = () => s.close();
    s.on('error', (e) => reply({ ok: false, code: e.code }));
    s.on('message', (m) => { try { reply({ ok: true, data: JSON.parse(String(m)) }); } catch { reply({ ok: false, code: 'BADREPLY' }); } });
    s.bind({ port: q.sport, address: q.src }, () => s.connect(q.port, q.dst, () => s.send('q')));
  }
});
`;

interface AgentReply {
  ok: boolean;
  code?: string;
  data?: { agent: string; peer: string; peerPort: number; local: string; localPort: number };
}

class Agent {
  private readonly proc: ChildProcess;
  private readonly waiting = new Map<number, (r: AgentReply) => void>();
  private nextId = 1;
  readonly ready: Promise<void>;

  constructor(ns: string, cfg: { name: string; listen: string[]; tcp: number[]; udp: number[] }) {
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', AGENT, JSON.stringify(cfg)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: this.proc.stdout! });
    this.ready = new Promise((resolve, reject) => {
      lines.on('line', (l) => {
        if (l === 'ready') resolve();
        else if (l.startsWith('error ')) reject(new Error(`${cfg.name} agent: ${l}`));
        else {
          const r = JSON.parse(l) as AgentReply & { id: number };
          this.waiting.get(r.id)?.(r);
          this.waiting.delete(r.id);
        }
      });
      this.proc.on('exit', (code) => reject(new Error(`${cfg.name} agent exited with ${code}`)));
    });
  }

  request(q: {
    proto: string;
    src: string;
    dst: string;
    port: number;
    sport: number;
    timeout: number;
  }): Promise<AgentReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.proc.stdin!.write(`${JSON.stringify({ id, ...q })}\n`);
    });
  }

  stop(): void {
    if (this.proc.pid !== undefined && this.proc.exitCode === null) this.proc.kill('SIGTERM');
  }
}

function setupNamespaces(): void {
  for (const ns of Object.values(NS)) {
    sh(['ip', 'netns', 'add', ns]);
    for (const k of ['all', 'default']) inNs(ns, ['sysctl', '-qw', `net.ipv6.conf.${k}.accept_dad=0`]);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  sh(['ip', 'link', 'add', 'c0', 'netns', NS.c, 'type', 'veth', 'peer', 'name', 'r0', 'netns', NS.r]);
  sh(['ip', 'link', 'add', 'r1', 'netns', NS.r, 'type', 'veth', 'peer', 'name', 's0', 'netns', NS.s]);
  const addr = (ns: string, dev: string, cidr: string) =>
    sh(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : [])]);
  addr(NS.c, 'c0', `${A.client}/24`);
  addr(NS.c, 'c0', `${A.client2}/24`);
  addr(NS.c, 'c0', `${A.client6}/64`);
  addr(NS.r, 'r0', `${A.r0}/24`);
  addr(NS.r, 'r0', `${A.r06}/64`);
  addr(NS.r, 'r1', `${A.r1}/24`);
  addr(NS.r, 'r1', `${A.r16}/64`);
  for (const a of [A.s1, A.s2, A.s3]) addr(NS.s, 's0', `${a}/24`);
  for (const a of [A.s16, A.s26]) addr(NS.s, 's0', `${a}/64`);
  for (const [ns, dev] of [
    [NS.c, 'c0'],
    [NS.r, 'r0'],
    [NS.r, 'r1'],
    [NS.s, 's0'],
  ]) {
    sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  }
  sh(['ip', '-n', NS.c, 'route', 'add', 'default', 'via', A.r0]);
  sh(['ip', '-n', NS.c, '-6', 'route', 'add', 'default', 'via', A.r06]);
  sh(['ip', '-n', NS.s, 'route', 'add', 'default', 'via', A.r1]);
  sh(['ip', '-n', NS.s, '-6', 'route', 'add', 'default', 'via', A.r16]);
  sh(['ip', '-n', NS.r, 'route', 'add', '10.77.9.0/24', 'via', A.s1]);
  sh(['ip', '-n', NS.r, '-6', 'route', 'add', 'fd77:9::/64', 'via', A.s16]);
  inNs(NS.r, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  inNs(NS.r, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  // The kernel rate-limits ICMP errors per peer (not modelled); the scenarios send many.
  inNs(NS.r, ['sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0']);
  inNs(NS.r, ['sysctl', '-qw', 'net.ipv6.icmp.ratelimit=0']);
}

function teardown(agents: Agent[]): void {
  for (const a of agents) a.stop();
  for (const ns of Object.values(NS)) {
    try {
      sh(['ip', 'netns', 'del', ns]);
    } catch {
      // not created
    }
  }
}

function routerHarness(): NetfilterHarness {
  return new NetfilterHarness({
    addresses: [
      { dev: 'r0', cidr: `${A.r0}/24` },
      { dev: 'r0', cidr: `${A.r06}/64` },
      { dev: 'r1', cidr: `${A.r1}/24` },
      { dev: 'r1', cidr: `${A.r16}/64` },
      { dev: 'lo', cidr: '127.0.0.1/8' },
    ],
    routes: [
      { dst: '10.77.9.0/24', dev: 'r1' },
      { dst: 'fd77:9::/64', dev: 'r1' },
    ],
  });
}

/** errno and "hard error" per ICMP code (Linux icmp_err_convert / icmpv6_err_convert tab_unreach). */
const ICMP4_ERR: Record<number, [Outcome | 'ENOPROTOOPT', boolean]> = {
  0: ['ENETUNREACH', false],
  1: ['EHOSTUNREACH', false],
  2: ['ENOPROTOOPT', true],
  3: ['ECONNREFUSED', true],
  9: ['ENETUNREACH', true],
  10: ['EHOSTUNREACH', true],
  13: ['EHOSTUNREACH', true],
};
const ICMP6_ERR: Record<number, [Outcome, boolean]> = {
  0: ['ENETUNREACH', false],
  1: ['EACCES', true],
  3: ['EHOSTUNREACH', false],
  4: ['ECONNREFUSED', true],
  5: ['EACCES', true],
  6: ['EACCES', true],
};

/**
 * What a client socket sees for a REJECT: a connecting TCP socket fails with any ICMP error; a
 * UDP socket (without IP_RECVERR) only hears of hard errors and otherwise just waits.
 */
function clientSees(r: RejectSpec, family: IpFamily, proto: 'tcp' | 'udp'): Outcome {
  if (r.with === 'tcp-reset') return 'ECONNREFUSED';
  const [errno, hard] = (family === 4 ? ICMP4_ERR : ICMP6_ERR)[r.icmpCode ?? 3] ?? ['EHOSTUNREACH', false];
  if (proto === 'udp' && !hard) return 'dropped';
  return errno as Outcome;
}

interface Seen {
  outcome: Outcome | 'reply-lost';
  at?: string;
  peer?: string;
  peerPort?: number;
}

function summarize(
  send: Send,
  src: string,
  sport: number,
  out: PacketOutcome,
  rep: PacketOutcome | undefined,
): Seen {
  const family: IpFamily = send.dst.includes(':') ? 6 : 4;
  if (out.disposition === 'dropped' || out.disposition === 'unroutable') return { outcome: 'dropped' };
  if (out.disposition === 'rejected') return { outcome: clientSees(out.reject!, family, send.proto) };
  const p = out.packet;
  const back = rep?.packet;
  const replyOk =
    rep !== undefined &&
    (rep.disposition === 'local' || rep.disposition === 'forwarded') &&
    back!.src === send.dst &&
    back!.sport === send.port &&
    back!.dst === src &&
    back!.dport === sport;
  return {
    outcome: replyOk ? 'delivered' : 'reply-lost',
    at: hostPort(p.dst, p.dport),
    peer: p.src,
    peerPort: p.sport,
  };
}

const agents: Agent[] = [];
let client: Agent;
let router: Agent;
let sport = 41000;

describe.skipIf(reason !== '')('netfilter: emulator vs kernel (differential)', () => {
  beforeAll(async () => {
    try {
      setupNamespaces();
      client = new Agent(NS.c, { name: 'client', listen: [], tcp: [], udp: [] });
      router = new Agent(NS.r, {
        name: 'router',
        listen: [A.r0, A.r1, A.r06, A.r16],
        tcp: [8080, 8081],
        udp: [8080, 8081],
      });
      const server = new Agent(NS.s, {
        name: 'server',
        listen: [A.s1, A.s2, A.s3, A.s16, A.s26],
        tcp: [80, 8080, 8081, 9090],
        udp: [8080, 8081, 9090],
      });
      agents.push(client, router, server);
      await Promise.all(agents.map((a) => a.ready));
    } catch (e) {
      teardown(agents);
      throw e;
    }
  });

  afterAll(() => teardown(agents));

  it('has at least 30 scenarios', () => {
    expect(SCENARIOS.length).toBeGreaterThanOrEqual(30);
  });

  for (const sc of SCENARIOS) {
    it(sc.name, async () => {
      await runScenario(sc);
    });
  }
});

async function runScenario(sc: Scenario): Promise<void> {
  inNs(NS.r, ['nft', 'flush', 'ruleset']);
  try {
    inNs(NS.r, ['conntrack', '-F']);
  } catch {
    // an empty table
  }
  const h = routerHarness();
  for (const step of sc.iptables ?? []) {
    inNs(NS.r, ['iptables-restore', ...(step.noflush ? ['--noflush'] : [])], step.text);
    h.nf.applyIptables(step.text, 4, { noflush: step.noflush });
  }
  if (sc.ip6tables) {
    inNs(NS.r, ['ip6tables-restore'], sc.ip6tables);
    h.nf.applyIptables(sc.ip6tables, 6);
  }
  if (sc.nft) {
    inNs(NS.r, ['nft', '-f', '-'], sc.nft);
    h.nf.applyNft(sc.nft);
  }

  for (const send of sc.sends) {
    const family: IpFamily = send.dst.includes(':') ? 6 : 4;
    const from = send.from ?? 'client';
    const port = send.sport ?? sport++;
    const src =
      send.src ??
      (from === 'router'
        ? h.netns.sourceAddress(h.route(send.dst, family), send.dst, family)!
        : family === 4
          ? A.client
          : A.client6);
    const real = await (from === 'router' ? router : client).request({
      proto: send.proto,
      src,
      dst: send.dst,
      port: send.port,
      sport: port,
      timeout: send.expect === 'dropped' ? 400 : 3000,
    });
    const realSeen: Seen = real.ok
      ? {
          outcome: 'delivered',
          at: hostPort(real.data!.local, real.data!.localPort),
          peer: real.data!.peer,
          peerPort: real.data!.peerPort,
        }
      : { outcome: real.code === 'TIMEOUT' ? 'dropped' : (real.code as Outcome) };
    const what = `${send.proto} ${hostPort(src, port)} -> ${hostPort(send.dst, send.port)}`;
    // The kernel does what the scenario is about.
    expect(realSeen.outcome, `kernel: ${what}`).toBe(send.expect);
    if (send.at) expect(realSeen.at, `kernel: ${what} arrives at`).toBe(send.at);
    if (send.seenFrom) expect(realSeen.peer, `kernel: ${what} seen from`).toBe(send.seenFrom);

    // The emulator has a path that does the same; follow it.
    const spec = {
      proto: send.proto,
      src,
      dst: send.dst,
      sport: port,
      dport: send.port,
      iif: from === 'router' ? undefined : 'r0',
    } as const;
    const paths = enumeratePaths((chooser) => {
      const undo: (() => void)[] = [];
      const opts = { chooser, undo: (fn: () => void) => undo.push(fn) };
      const out = h.send(spec, opts);
      const rep =
        out.disposition === 'forwarded' || out.disposition === 'local' ? h.reply(out, opts) : undefined;
      for (let i = undo.length - 1; i >= 0; i--) undo[i]();
      return summarize(send, src, port, out, rep);
    });
    const same = (s: Seen) =>
      s.outcome === realSeen.outcome &&
      s.at === realSeen.at &&
      s.peer === realSeen.peer &&
      (sc.randomPorts || send.portMoved || s.peerPort === realSeen.peerPort);
    const hit = paths.find((p) => same(p.result));
    expect(
      hit,
      `emulator: ${what}: kernel ${JSON.stringify(realSeen)}, emulator paths ${JSON.stringify(paths.map((p) => p.result))}`,
    ).toBeDefined();
    if (send.portMoved) {
      expect(realSeen.peerPort, `kernel: ${what} source port`).not.toBe(port);
      expect(hit!.result.peerPort, `emulator: ${what} source port`).not.toBe(port);
    }
    if (sc.portRange && realSeen.peerPort !== undefined) {
      for (const v of [realSeen.peerPort, hit!.result.peerPort!]) {
        expect(v).toBeGreaterThanOrEqual(sc.portRange[0]);
        expect(v).toBeLessThanOrEqual(sc.portRange[1]);
      }
    }
    const opts = { chooser: replayChooser(hit!.indices) };
    const out = h.send(spec, opts);
    if (out.disposition === 'forwarded' || out.disposition === 'local') h.reply(out, opts);
  }

  // conntrack: the same connections with the same original and reply tuples.
  const real = inNs(NS.r, ['conntrack', '-L'])
    .split('\n')
    .map(parseConntrackLine)
    .filter((e) => e !== undefined && (e.proto === 'tcp' || e.proto === 'udp'));
  const emu = h.nf.conntrack.entries();
  const key = (proto: string, t: { src: string; sport: number; dst: string; dport: number }) =>
    `${proto} ${hostPort(t.src, t.sport)} > ${hostPort(t.dst, t.dport)}`;
  const realKeys = real.map((e) => key(e!.proto, e!.orig)).sort();
  const emuKeys = emu.map((e) => key(e.proto === 6 ? 'tcp' : 'udp', e.orig)).sort();
  expect(emuKeys, 'conntrack entries (original tuples)').toEqual(realKeys);
  for (const r of real) {
    const e = emu.find((x) => key(x.proto === 6 ? 'tcp' : 'udp', x.orig) === key(r!.proto, r!.orig))!;
    const moved = sc.sends.some((x) => x.portMoved);
    const reply = (t: { src: string; sport: number; dst: string; dport: number }) =>
      sc.randomPorts || moved ? `${hostPort(t.src, t.sport)} > ${t.dst}` : key('', t);
    expect(reply(e.reply), `reply tuple of ${key(r!.proto, r!.orig)}`).toBe(reply(r!.reply));
    expect(e.seenReply, `seen reply of ${key(r!.proto, r!.orig)}`).toBe(!r!.unreplied);
  }
}
