/**
 * The TUN helper: a tiny N-API addon (native/tun.c) that opens /dev/net/tun and issues
 * TUNSETIFF, which Node cannot. It is optional: built on first use with the node-gyp that ships
 * with npm, against the headers of the running Node, without network access. Where it cannot be
 * built, plans with TUN devices (the udp overlay) are refused by preflight.
 */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FeatureMissingError } from '@podnet/core';
import { run } from './run.js';

const ADDON = join('build', 'Release', 'podnet_tun.node');

/** The package's `native/` directory (next to `src/` and `dist/`). */
export function nativeSourceDir(): string {
  return fileURLToPath(new URL('../native/', import.meta.url));
}

function nodeGyp(): string | undefined {
  const candidates = [
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => existsSync(c));
}

/** A directory holding `include/node/node_api.h` for the running Node, so node-gyp downloads nothing. */
function nodeDir(): string | undefined {
  const dir = join(dirname(process.execPath), '..');
  return existsSync(join(dir, 'include', 'node', 'node_api.h')) ? dir : undefined;
}

/** Path of a built addon, if one exists (in the package or under `stateRoot`). */
export function findTunAddon(stateRoot: string, sourceDir: string = nativeSourceDir()): string | undefined {
  return [join(sourceDir, ADDON), join(stateRoot, 'native', ADDON)].find((p) => existsSync(p));
}

/**
 * The addon's path, building it when needed: in the package's `native/` directory, or, where that
 * is not writable, in a copy under `stateRoot/native`. Throws FeatureMissingError('tun', ...)
 * naming what is missing.
 */
export async function ensureTunAddon(
  stateRoot: string,
  sourceDir: string = nativeSourceDir(),
): Promise<string> {
  const found = findTunAddon(stateRoot, sourceDir);
  if (found) return found;
  const gyp = nodeGyp();
  if (!gyp) {
    throw new FeatureMissingError(
      'tun',
      'the TUN helper addon is not built and node-gyp was not found next to this Node (npm ships one)',
    );
  }
  const headers = nodeDir();
  const args = ['rebuild', ...(headers ? [`--nodedir=${headers}`] : [])];
  const attempt = (cwd: string) =>
    run([process.execPath, gyp, ...args], { allowFailure: true, timeoutMs: 180_000, cwd }).catch(
      (e: Error) => ({
        code: 1,
        stdout: '',
        stderr: e.message,
      }),
    );
  const inPlace = await attempt(sourceDir);
  if (inPlace.code === 0 && existsSync(join(sourceDir, ADDON))) return join(sourceDir, ADDON);
  const copy = join(stateRoot, 'native');
  mkdirSync(copy, { recursive: true });
  for (const f of ['binding.gyp', 'tun.c']) cpSync(join(sourceDir, f), join(copy, f));
  const second = await attempt(copy);
  if (second.code === 0 && existsSync(join(copy, ADDON))) return join(copy, ADDON);
  const tail = (second.stderr || inPlace.stderr).trim().split('\n').slice(-6).join('\n');
  throw new FeatureMissingError(
    'tun',
    `cannot build the TUN helper addon (node-gyp rebuild in ${copy}): needs python3, make and a C compiler` +
      `${headers ? '' : ' and Node headers'}; the udp overlay needs it\n${tail}`,
  );
}
