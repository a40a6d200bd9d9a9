/**
 * `podnet serve dns -f FILE... --listen ADDR:PORT`: the real server for these manifests on this host,
 * until SIGINT or SIGTERM; SIGHUP reloads the manifests and the server answers from the new state.
 */
import { type ClusterState, InvalidArgumentError } from '@podnet/core';
import { startDnsServer } from '@podnet/dns';
import { type Command, EXIT, fileOptions, type ParsedCommand } from '../command.js';
import type { CliIo } from '../io.js';
import { loadStateFromArgs, printWarnings } from '../load.js';

interface Running {
  endpoints: string[];
  update(state: ClusterState): void;
  stop(): Promise<void>;
}

type Server = (state: ClusterState, values: ParsedCommand['values']) => Promise<Running>;

const addressOption = (values: ParsedCommand['values'], name: string): string | false | undefined => {
  const v = values[name];
  if (v === undefined) return undefined;
  return v === 'off' ? false : String(v);
};

/** The servers `podnet serve` can run, by name. */
const SERVERS: Record<string, { describe(state: ClusterState): string; start: Server }> = {
  dns: {
    describe: (s) =>
      `DNS for ${s.network.clusterDomain} (${s.services.length} services, ${s.pods.length} pods)`,
    start: (state, values) => {
      const upstreams = values.upstream;
      return startDnsServer({
        state,
        listen: typeof values.listen === 'string' ? values.listen : '127.0.0.1:53',
        health: addressOption(values, 'health'),
        ready: addressOption(values, 'ready'),
        metrics: addressOption(values, 'metrics'),
        resolver: Array.isArray(upstreams) ? { upstreams: upstreams.map(String) } : undefined,
      });
    },
  },
};

function waitForSignal(onReload: () => void): Promise<string> {
  return new Promise((resolve) => {
    const stop = (sig: string) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onReload);
      resolve(sig);
    };
    const onInt = stop('SIGINT');
    const onTerm = stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.on('SIGHUP', onReload);
  });
}

export const serve: Command = {
  name: 'serve',
  summary: 'run the real DNS server for the manifests on this host until SIGINT/SIGTERM (SIGHUP reloads)',
  usage:
    'podnet serve dns -f FILE... [--listen ADDR:PORT] [--health ADDR:PORT|off] [--ready ADDR:PORT|off] [--metrics ADDR:PORT|off] [--upstream IP[:PORT]]...',
  options: {
    ...fileOptions,
    listen: { type: 'string' },
    health: { type: 'string' },
    ready: { type: 'string' },
    metrics: { type: 'string' },
    upstream: { type: 'string', multiple: true },
  },
  async run({ values, positionals }, io: CliIo) {
    const [what, ...extra] = positionals;
    const known = Object.keys(SERVERS).join(', ');
    if (!what) throw new InvalidArgumentError('serve', `say what to serve (${known})`);
    const server = SERVERS[what];
    if (!server) throw new InvalidArgumentError('serve', `unknown server "${what}" (${known})`);
    if (extra.length > 0) throw new InvalidArgumentError('serve', `unexpected argument "${extra[0]}"`);
    const state = await loadStateFromArgs(values, io);
    printWarnings(state, io);
    const running = await server.start(state, values);
    io.out(`serving ${server.describe(state)} on ${running.endpoints.join(', ')}; Ctrl-C to stop\n`);
    let reloading = Promise.resolve();
    const reload = () => {
      reloading = reloading.then(async () => {
        try {
          const next = await loadStateFromArgs(values, io);
          running.update(next);
          io.out(`reloaded: ${server.describe(next)}\n`);
        } catch (e) {
          io.err(`reload failed, still serving the previous state: ${(e as Error).message}\n`);
        }
      });
    };
    const signal = await waitForSignal(reload);
    await reloading;
    await running.stop();
    io.out(`${signal}: stopped\n`);
    return EXIT.ok;
  },
};
