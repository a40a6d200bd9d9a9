import { parseArgs } from 'node:util';
import { InvalidArgumentError, PodnetError } from '@podnet/core';
import { EXIT } from './command.js';
import { commands } from './commands/index.js';
import type { CliIo } from './io.js';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'podnet: the Kubernetes network, runnable',
    '',
    'Usage: podnet COMMAND [options]   (podnet COMMAND --help for a command)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global: --debug shows stack traces of internal errors.',
    'Exit codes: 0 success, 1 negative result, 2 bad input, 3 internal error.',
    '',
  ].join('\n');
}

/** Runs one podnet invocation; returns the exit code. Never throws. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const name = args[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? EXIT.ok : EXIT.badInput;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    io.err(`podnet: unknown command "${name}" (see podnet --help)\n`);
    return EXIT.badInput;
  }
  try {
    const rest = args.slice(1);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(`Usage: ${cmd.usage}\n\n${cmd.summary}\n`);
      return EXIT.ok;
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      const dd = cmd.passThrough ? rest.indexOf('--') : -1;
      const own = dd >= 0 ? rest.slice(0, dd) : rest;
      parsed = parseArgs({ args: own, options: cmd.options, allowPositionals: true, strict: true });
      if (dd >= 0) parsed.positionals.push('--', ...rest.slice(dd + 1));
    } catch (e) {
      throw new InvalidArgumentError(cmd.name, (e as Error).message);
    }
    return await cmd.run({ values: parsed.values as never, positionals: parsed.positionals }, io);
  } catch (e) {
    if (PodnetError.isUserError(e)) {
      io.err(`${e.message}\n`);
      return EXIT.badInput;
    }
    if (debug) io.err(`${(e as Error)?.stack ?? String(e)}\n`);
    const msg = PodnetError.is(e) ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);
    io.err(`podnet: internal error: ${msg}${debug ? '' : ' (run with --debug for details)'}\n`);
    return EXIT.internal;
  }
}
