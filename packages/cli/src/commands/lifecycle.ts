/**
 * The real-kernel lifecycle: `podnet up -f FILE... --backend linux`, `podnet exec NS/POD -- CMD`,
 * `podnet status`, `podnet down`. A cluster is named (`--name`, default `podnet`); its state lives
 * under /run/podnet/NAME so later invocations find it.
 */
import { InvalidArgumentError } from '@podnet/core';
import {
  linux,
  down as linuxDown,
  exec as linuxExec,
  listClusters,
  status as linuxStatus,
  up as linuxUp,
} from '@podnet/linux';
import { type Command, EXIT, fileOptions, type OptionSpec } from '../command.js';
import { loadStateFromArgs, printWarnings } from '../load.js';
import { appRegistry, buildPlan } from '../plan.js';

const nameOption: OptionSpec = { name: { type: 'string' }, 'state-dir': { type: 'string' } };
const clusterOf = (values: Record<string, unknown>) =>
  typeof values.name === 'string' ? values.name : 'podnet';
const location = (values: Record<string, unknown>) =>
  typeof values['state-dir'] === 'string' ? { stateDir: values['state-dir'] as string } : {};

export const up: Command = {
  name: 'up',
  summary: 'build the cluster network in real network namespaces on this host (root, Linux)',
  usage: 'podnet up -f FILE... --backend linux [--name CLUSTER] [--state-dir DIR]',
  options: { ...fileOptions, ...nameOption, backend: { type: 'string' } },
  async run({ values }, io) {
    const backend = values.backend ?? 'linux';
    if (backend !== 'linux') {
      throw new InvalidArgumentError(
        '--backend',
        `"${String(backend)}": up builds real networks (linux); the emulated backend needs no up — use trace, dig or demo`,
      );
    }
    const state = await loadStateFromArgs(values, io);
    printWarnings(state, io);
    const plan = buildPlan(state);
    const cluster = clusterOf(values);
    const checks = (await linux({ clusterName: cluster, ...location(values) }).preflight?.(plan)) ?? [];
    const missing = checks.filter((c) => !c.ok);
    if (missing.length > 0) {
      for (const c of missing) io.err(`podnet up: ${c.feature}: ${c.reason ?? 'not supported here'}\n`);
      return EXIT.badInput;
    }
    const net = await linuxUp(plan, {
      clusterName: cluster,
      ...location(values),
      apps: appRegistry(),
      onProgress: (step) => io.err(`  ${step}\n`),
    });
    io.out(
      `cluster ${cluster} is up: ${plan.nodes.length} nodes, ${state.pods.length} pods (namespaces ${net.prefix}*)\n`,
    );
    io.out(
      `  podnet exec --name ${cluster} default/POD -- CMD...     podnet status --name ${cluster}     podnet down --name ${cluster}\n`,
    );
    return EXIT.ok;
  },
};

export const exec: Command = {
  name: 'exec',
  summary: "run a command inside a pod's (or node's) network namespace of a running cluster",
  usage: 'podnet exec [--name CLUSTER] NS/POD|node/NAME -- CMD [ARGS...]',
  options: nameOption,
  passThrough: true,
  async run({ values, positionals }, io) {
    const dd = positionals.indexOf('--');
    const target = positionals[0];
    const argv = dd >= 0 ? positionals.slice(dd + 1) : positionals.slice(1);
    if (!target || target === '--')
      throw new InvalidArgumentError('exec', 'name the pod: podnet exec NS/POD -- CMD');
    if (argv.length === 0) throw new InvalidArgumentError('exec', 'give the command after --');
    return linuxExec(clusterOf(values), target, argv, location(values));
  },
};

export const status: Command = {
  name: 'status',
  summary: 'show the running clusters, or one cluster: namespaces and app processes',
  usage: 'podnet status [--name CLUSTER] [-o json]',
  options: { ...nameOption, output: { type: 'string', short: 'o' } },
  async run({ values }, io) {
    if (typeof values.name !== 'string') {
      const names = await listClusters(location(values));
      if (values.output === 'json') io.out(`${JSON.stringify({ clusters: names })}\n`);
      else io.out(names.length ? `${names.join('\n')}\n` : 'no clusters\n');
      return EXIT.ok;
    }
    const s = await linuxStatus(values.name, location(values));
    if (values.output === 'json') {
      io.out(`${JSON.stringify(s, null, 2)}\n`);
      return s.exists ? EXIT.ok : EXIT.negative;
    }
    if (!s.exists) {
      io.out(`cluster ${s.cluster}: not found\n`);
      return EXIT.negative;
    }
    io.out(`cluster ${s.cluster} (${s.phase ?? 'unknown'}), state ${s.stateDir}\n`);
    const up = s.namespaces.filter((n) => n.exists).length;
    io.out(
      `  namespaces: ${up}/${s.namespaces.length} present${s.strayNamespaces.length ? `, ${s.strayNamespaces.length} stray` : ''}\n`,
    );
    if (s.supervisor)
      io.out(`  supervisor: pid ${s.supervisor.pid} ${s.supervisor.alive ? 'running' : 'dead'}\n`);
    for (const a of s.apps)
      io.out(`  ${a.node.padEnd(10)} ${a.app.padEnd(12)} ${a.name}${a.pid ? ` pid ${a.pid}` : ''}\n`);
    return EXIT.ok;
  },
};

export const down: Command = {
  name: 'down',
  summary: 'remove everything a cluster made (also after a crash of up)',
  usage: 'podnet down [--name CLUSTER] [--state-dir DIR]',
  options: nameOption,
  async run({ values }, io) {
    const r = await linuxDown(clusterOf(values), location(values));
    io.out(`removed ${r.namespaces.length} namespaces, stopped ${r.processes} processes\n`);
    return EXIT.ok;
  },
};
