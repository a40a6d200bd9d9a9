/**
 * Executes iproute2 command lines (core's `ipCommands` format: `ip -n NS ...`, `bridge -n NS ...`,
 * `ip netns add NS`, `ip netns exec NS sysctl -w k=v`) with as few processes as possible:
 * `ip -batch` does not accept `-n` per line, so lines are grouped per tool and namespace, keeping
 * the phase order ipCommands emits (namespaces, devices, ports, link state, addresses, sysctls,
 * neighbours, FDB, routes). Inside a phase lines do not depend on one another, except that a device
 * may name a device created earlier in the same phase (`vxlan ... dev eth0` after the fabric made
 * `eth0`): groups run in the order their namespace first appears, so the fabric's come first.
 */
import { PodnetError } from '@podnet/core';
import { run } from './run.js';

export const PHASES = [
  'namespaces',
  'devices',
  'ports',
  'link state',
  'addresses',
  'sysctls',
  'neighbours',
  'fdb entries',
  'routes',
] as const;
export type Phase = (typeof PHASES)[number];

interface ParsedLine {
  line: string;
  phase: number;
  tool: 'ip' | 'bridge' | 'netns' | 'sysctl';
  netns: string;
  family6: boolean;
  /** What goes into the batch (or the sysctl assignment). */
  body: string;
}

function phaseOf(body: string, tool: ParsedLine['tool']): number {
  if (tool === 'netns') return 0;
  if (tool === 'sysctl') return 5;
  if (tool === 'bridge') return body.startsWith('fdb ') ? 7 : 2;
  if (/^(link (add|del)|tuntap add) /.test(body)) return 1;
  if (body.startsWith('link set ')) return / (up|down)$/.test(body) ? 3 : 2;
  if (body.startsWith('addr ')) return 4;
  if (body.startsWith('neigh ')) return 6;
  if (body.startsWith('route ')) return 8;
  return -1;
}

export function parseCommand(line: string): ParsedLine {
  const bad = () =>
    new PodnetError('PODNET_INTERNAL', `linux backend: cannot execute command line "${line}"`);
  let m = /^ip netns (add|del) (\S+)$/.exec(line);
  if (m) return { line, phase: 0, tool: 'netns', netns: '', family6: false, body: `netns ${m[1]} ${m[2]}` };
  m = /^ip netns exec (\S+) sysctl -w (\S+=\S*)$/.exec(line);
  if (m) return { line, phase: 5, tool: 'sysctl', netns: m[1], family6: false, body: m[2] };
  m = /^(ip|bridge) -n (\S+) (-6 )?(.+)$/.exec(line);
  if (!m) throw bad();
  const tool = m[1] as 'ip' | 'bridge';
  const phase = phaseOf(m[4], tool);
  if (phase < 0) throw bad();
  return { line, phase, tool, netns: m[2], family6: m[3] !== undefined, body: m[4] };
}

interface Group {
  phase: number;
  key: string;
  lines: ParsedLine[];
}

/** Lines grouped per phase, then per (tool, namespace, family) in order of first appearance. */
export function groupCommands(lines: readonly string[], reverse = false): Group[] {
  const parsed = lines.map(parseCommand);
  const groups: Group[] = [];
  const order = PHASES.map((_, i) => i);
  if (reverse) order.reverse();
  for (const phase of order) {
    const byKey = new Map<string, Group>();
    for (const p of parsed) {
      if (p.phase !== phase) continue;
      const key = `${p.tool}|${p.netns}|${p.family6 ? 6 : ''}`;
      let g = byKey.get(key);
      if (!g) {
        g = { phase, key, lines: [] };
        byKey.set(key, g);
        groups.push(g);
      }
      g.lines.push(p);
    }
  }
  return groups;
}

function argvOf(g: Group, force: boolean): string[] {
  const p = g.lines[0];
  const f = force ? ['-force'] : [];
  switch (p.tool) {
    case 'netns':
      return ['ip', ...f, '-batch', '-'];
    case 'sysctl':
      return ['ip', 'netns', 'exec', p.netns, 'sysctl', '-q', '-w', ...g.lines.map((l) => l.body)];
    case 'bridge':
      return ['bridge', '-n', p.netns, ...f, '-batch', '-'];
    case 'ip':
      return ['ip', ...(p.family6 ? ['-6'] : []), '-n', p.netns, ...f, '-batch', '-'];
  }
}

export interface ExecuteOptions {
  /** Called once per phase that has commands. */
  onPhase?: (phase: Phase, count: number) => void;
  /** Keep going past failures (deletions of things that may already be gone). @default false */
  force?: boolean;
  /** Run the phases last to first (deletions: routes before devices before namespaces). @default false */
  reverse?: boolean;
}

/** Runs the lines; returns how many were executed. Throws PODNET_BACKEND naming the failing line. */
export async function executeCommands(
  lines: readonly string[],
  options: ExecuteOptions = {},
): Promise<number> {
  const groups = groupCommands(lines, options.reverse === true);
  let phase = -1;
  for (const g of groups) {
    if (g.phase !== phase) {
      phase = g.phase;
      options.onPhase?.(
        PHASES[phase],
        groups.filter((x) => x.phase === phase).reduce((n, x) => n + x.lines.length, 0),
      );
    }
    const argv = argvOf(g, options.force === true);
    const input = g.lines[0].tool === 'sysctl' ? '' : `${g.lines.map((l) => l.body).join('\n')}\n`;
    const r = await run(argv, { input, allowFailure: true });
    if (r.code !== 0 && !options.force) {
      const n = /Command failed -:(\d+)/.exec(r.stderr);
      const failed = n ? g.lines[Number(n[1]) - 1]?.line : undefined;
      const reason = r.stderr.replace(/Command failed -:\d+\s*/g, '').trim() || `exit ${r.code}`;
      throw new PodnetError('PODNET_BACKEND', `${failed ?? argv.join(' ')}: ${reason}`);
    }
  }
  return lines.length;
}
