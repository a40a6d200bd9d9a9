/**
 * What this host can do for a plan, checked before anything is created: root, the tools, and the
 * kernel features the plan uses, probed by creating throwaway devices in a throwaway namespace
 * (a missing driver fails `ip link add`; IPVS shows as /proc/net/ip_vs; br_netfilter as
 * /proc/sys/net/bridge). Only features the plan needs are checked.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ClusterDataplane, type FeatureCheck, FeatureMissingError } from '@podnet/core';
import { run, splitJsonValues } from './run.js';
import { ensureTunAddon } from './tun-addon.js';

// Not of the form `pn-<cluster>.`: no cluster's sweep can match a probe namespace.
const PROBE_PREFIX = 'pn_probe.';

/** The absolute path of `bin` on PATH (plus the sbin directories), if any. */
export function which(bin: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

interface Needs {
  kinds: Set<string>;
  ipv4: boolean;
  ipv6: boolean;
  nft: boolean;
  ipvs: boolean;
  ipset: boolean;
  bridgeNf: boolean;
  sysctl: boolean;
  tunApps: boolean;
}

function needsOf(plan: ClusterDataplane): Needs {
  const n: Needs = {
    kinds: new Set(['veth', 'bridge']),
    ipv4: false,
    ipv6: false,
    nft: false,
    ipvs: false,
    ipset: false,
    bridgeNf: false,
    sysctl: false,
    tunApps: false,
  };
  for (const np of plan.nodes) {
    for (const l of np.links) n.kinds.add(l.kind);
    n.ipv4 ||= np.iptables.ipv4.trim() !== '';
    n.ipv6 ||= np.iptables.ipv6.trim() !== '';
    n.nft ||= np.nftables.trim() !== '';
    n.ipvs ||= np.ipvs.trim() !== '';
    n.ipset ||= np.ipset.trim() !== '';
    n.sysctl ||= np.sysctls.length > 0;
    n.bridgeNf ||= np.sysctls.some((s) => s.key.startsWith('net.bridge.'));
    n.tunApps ||= np.links.some((l) => l.kind === 'tun' && l.owner !== undefined);
  }
  return n;
}

const TOOLS: [keyof Needs | 'always', string[], string][] = [
  ['always', ['ip', 'bridge'], 'iproute2'],
  ['sysctl', ['sysctl'], 'procps'],
  ['ipv4', ['iptables-restore', 'iptables-save'], 'iptables'],
  ['ipv6', ['ip6tables-restore', 'ip6tables-save'], 'iptables (IPv6)'],
  ['nft', ['nft'], 'nftables'],
  ['ipvs', ['ipvsadm'], 'ipvsadm'],
  ['ipset', ['ipset'], 'ipset'],
];

export interface PreflightOptions {
  /** State root, where the TUN helper may be built when the package directory is read-only. */
  stateRoot: string;
  /** Sources of the TUN helper. @default the package's `native/` */
  nativeDir?: string;
}

/** One FeatureCheck per feature the plan needs. Creates (and removes) one throwaway namespace. */
export async function preflight(plan: ClusterDataplane, options: PreflightOptions): Promise<FeatureCheck[]> {
  const needs = needsOf(plan);
  const checks: FeatureCheck[] = [];
  const linux = process.platform === 'linux';
  checks.push(
    linux
      ? { feature: 'linux', ok: true }
      : { feature: 'linux', ok: false, reason: `runs on Linux only (this is ${process.platform})` },
  );
  const uid = process.getuid?.() ?? -1;
  const root = uid === 0;
  checks.push(
    root
      ? { feature: 'root', ok: true }
      : { feature: 'root', ok: false, reason: `needs root to create network namespaces (uid ${uid})` },
  );
  for (const [need, bins, pkg] of TOOLS) {
    if (need !== 'always' && !needs[need]) continue;
    for (const b of bins) {
      checks.push(
        which(b)
          ? { feature: b, ok: true }
          : { feature: b, ok: false, reason: `${b} not found on PATH (install ${pkg})` },
      );
    }
  }
  if (!linux || !root || !which('ip')) return checks;

  await sweepStaleProbes();
  const ns = `${PROBE_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const made = await run(['ip', 'netns', 'add', ns], { allowFailure: true });
  if (made.code !== 0) {
    checks.push({ feature: 'netns', ok: false, reason: `ip netns add failed: ${made.stderr.trim()}` });
    return checks;
  }
  checks.push({ feature: 'netns', ok: true });
  try {
    const probe = async (feature: string, argv: string[], why: (stderr: string) => string) => {
      const r = await run(argv, { allowFailure: true });
      checks.push(
        r.code === 0 ? { feature, ok: true } : { feature, ok: false, reason: why(r.stderr.trim()) },
      );
    };
    const dev = (kind: string, args: string[]) =>
      probe(
        kind,
        ['ip', '-n', ns, 'link', 'add', `p-${kind}`, 'type', ...args],
        (e) => `kernel lacks ${kind} devices (ip link add type ${kind}: ${e})`,
      );
    await dev('veth', ['veth', 'peer', 'name', 'p-veth1']);
    await dev('bridge', ['bridge']);
    if (needs.kinds.has('vxlan')) await dev('vxlan', ['vxlan', 'id', '42', 'dstport', '4789']);
    if (needs.kinds.has('dummy')) await dev('dummy', ['dummy']);
    if (needs.kinds.has('tun')) {
      if (!existsSync('/dev/net/tun'))
        checks.push({ feature: 'tun', ok: false, reason: 'kernel lacks TUN: /dev/net/tun does not exist' });
      else
        await probe(
          'tun',
          ['ip', '-n', ns, 'tuntap', 'add', 'dev', 'p-tun', 'mode', 'tun'],
          (e) => `kernel lacks TUN devices (ip tuntap add: ${e})`,
        );
    }
    if (needs.ipvs) {
      const r = await run(['ip', 'netns', 'exec', ns, 'test', '-e', '/proc/net/ip_vs'], {
        allowFailure: true,
      });
      checks.push(
        r.code === 0
          ? { feature: 'ipvs', ok: true }
          : {
              feature: 'ipvs',
              ok: false,
              reason:
                'kernel lacks ip_vs (no /proc/net/ip_vs: CONFIG_IP_VS unset or the ip_vs module not loaded); IPVS proxy mode cannot run here',
            },
      );
    }
    if (needs.bridgeNf) {
      const r = await run(['ip', 'netns', 'exec', ns, 'test', '-d', '/proc/sys/net/bridge'], {
        allowFailure: true,
      });
      checks.push(
        r.code === 0
          ? { feature: 'br_netfilter', ok: true }
          : {
              feature: 'br_netfilter',
              ok: false,
              reason:
                'kernel lacks br_netfilter (no /proc/sys/net/bridge; modprobe br_netfilter), needed for net.bridge.bridge-nf-call-* sysctls',
            },
      );
    }
    if (needs.ipv4 && which('iptables-restore')) {
      await probe(
        'iptables',
        ['ip', 'netns', 'exec', ns, 'iptables-restore', '--noflush', '--test'],
        (e) => `iptables-restore cannot run in a namespace: ${e}`,
      );
    }
    if (needs.nft && which('nft')) {
      await probe(
        'nftables',
        ['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'],
        (e) => `nft cannot run in a namespace: ${e}`,
      );
    }
  } finally {
    await run(['ip', 'netns', 'del', ns], { allowFailure: true });
  }
  if (needs.tunApps) {
    try {
      await ensureTunAddon(options.stateRoot, options.nativeDir);
      checks.push({ feature: 'tun-addon', ok: true });
    } catch (e) {
      checks.push({ feature: 'tun-addon', ok: false, reason: (e as Error).message });
    }
  }
  return checks;
}

/** Throws one FeatureMissingError listing every failed check. */
export function assertFeatures(checks: readonly FeatureCheck[]): void {
  const bad = checks.filter((c) => !c.ok);
  if (bad.length === 0) return;
  throw new FeatureMissingError(
    bad[0].feature,
    `this host cannot run the plan: ${bad.map((c) => `${c.feature}: ${c.reason ?? 'missing'}`).join('; ')}`,
  );
}

/** Probe namespaces left by a preflight that was killed (their pid is gone). */
async function sweepStaleProbes(): Promise<void> {
  const r = await run(['ip', '-j', 'netns', 'list'], { allowFailure: true });
  const names = ((splitJsonValues(r.stdout)[0] ?? []) as { name: string }[]).map((n) => n.name);
  const live = new Set(readdirSync('/proc').filter((d) => /^\d+$/.test(d)));
  for (const n of names) {
    const m = /^pn_probe\.(\d+)-/.exec(n);
    if (m && !live.has(m[1])) await run(['ip', 'netns', 'del', n], { allowFailure: true });
  }
}
