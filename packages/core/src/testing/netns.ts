/**
 * Helpers for real-kernel tests (`*.linux.test.ts`): why such a test must skip here, and throwaway
 * network namespaces with a unique name prefix that are deleted again, also when the test fails.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

/** Why a test needing root, `ip` and `commands` cannot run here; '' when it can. */
export function netnsSkipReason(commands: readonly string[] = []): string {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  const missing = ['ip', ...commands].filter((c) => !has(c));
  return missing.length > 0 ? `missing ${missing.join(', ')}` : '';
}

/** Runs a command and returns its stdout; throws with its stderr when it fails. */
export function runCommand(argv: readonly string[], input?: string): string {
  const r = spawnSync(argv[0], argv.slice(1), { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Runs a command inside network namespace `ns`. */
export function netnsExec(ns: string, argv: readonly string[], input?: string): string {
  return runCommand(['ip', 'netns', 'exec', ns, ...argv], input);
}

let calls = 0;

/**
 * Calls `fn` with `netns(tag)`, which creates the network namespace `<prefix>-<unique>-<tag>`
 * (unique to this call, this process and this run), and deletes every namespace it created once
 * `fn` has settled. `fn`'s own error wins over a namespace that could not be deleted.
 */
export async function withNetns<T>(
  prefix: string,
  fn: (netns: (tag: string) => string) => T | Promise<T>,
): Promise<T> {
  calls += 1;
  const unique = `${prefix}-${process.pid.toString(36)}${calls.toString(36)}${randomBytes(2).toString('hex')}`;
  const created: string[] = [];
  const netns = (tag: string) => {
    const name = `${unique}-${tag}`;
    runCommand(['ip', 'netns', 'add', name]);
    created.push(name);
    return name;
  };
  const deleteAll = () => created.filter((name) => spawnSync('ip', ['netns', 'del', name]).status !== 0);
  let result: T;
  try {
    result = await fn(netns);
  } catch (e) {
    deleteAll();
    throw e;
  }
  const left = deleteAll();
  if (left.length > 0) throw new Error(`withNetns: could not delete network namespaces ${left.join(', ')}`);
  return result;
}
