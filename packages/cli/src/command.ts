import type { ParseArgsConfig } from 'node:util';
import type { CliIo } from './io.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedCommand {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** One `podnet` subcommand. `run` returns the exit code (0 ok, 1 negative result). */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec;
  /** Allow positionals after `--` (exec). @default false */
  passThrough?: boolean;
  run(args: ParsedCommand, io: CliIo): Promise<number>;
}

export const EXIT = { ok: 0, negative: 1, badInput: 2, internal: 3 } as const;

/** The options every command that reads manifests takes. */
export const fileOptions: OptionSpec = {
  file: { type: 'string', short: 'f', multiple: true },
};

export const outputOption: OptionSpec = {
  output: { type: 'string', short: 'o' },
};
