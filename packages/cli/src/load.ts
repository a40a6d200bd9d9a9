/** Manifest loading for every command that takes `-f FILE...` (files, folders, `-` for stdin). */
import { loadCluster } from '@podnet/cluster';
import { type ClusterState, formatLocation, InvalidArgumentError, type ManifestWarning } from '@podnet/core';
import type { ParsedCommand } from './command.js';
import type { CliIo } from './io.js';

/** The `-f` values of a parsed command line. */
export function fileArgs(values: ParsedCommand['values']): string[] {
  const f = values.file;
  const list = Array.isArray(f) ? f : f === undefined ? [] : [f];
  return list.filter((x): x is string => typeof x === 'string' && x !== '');
}

/** Loads and resolves the cluster the `-f` arguments name; bad input throws a user error (exit 2). */
export async function loadStateFromArgs(values: ParsedCommand['values'], io: CliIo): Promise<ClusterState> {
  const files = fileArgs(values);
  if (files.length === 0)
    throw new InvalidArgumentError('-f', 'give at least one manifest file, folder, or - for stdin');
  return loadCluster(files, { cwd: io.cwd, readStdin: () => io.readStdin() });
}

/** One line: `web.yaml: Service default/web: spec.selector: selects no pods`. */
export function formatWarning(w: ManifestWarning): string {
  return `${formatLocation({ file: w.file, object: w.object, field: w.field })}: ${w.message}`;
}

/** Warnings to stderr, kubectl style (`Warning: ...`). */
export function printWarnings(state: ClusterState, io: CliIo): void {
  for (const w of state.warnings) io.err(`Warning: ${formatWarning(w)}\n`);
}
