/** Running host tools: one spawn helper that captures output and reports failures as PodnetErrors. */
import { spawn } from 'node:child_process';
import { PodnetError } from '@podnet/core';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  /** Do not throw on a non-zero exit. @default false */
  allowFailure?: boolean;
  /** @default 60000 */
  timeoutMs?: number;
  /** Working directory. @default the current one */
  cwd?: string;
}

/** Runs `argv` (no shell), returns its output; throws PODNET_BACKEND naming the command on failure. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new PodnetError('PODNET_BACKEND', `${argv.join(' ')}: cannot run: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r = {
        code: code ?? 128,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (r.code !== 0 && !options.allowFailure) {
        const why = signal ? `killed by ${signal}` : `exit ${r.code}`;
        reject(
          new PodnetError(
            'PODNET_BACKEND',
            `${argv.join(' ')} failed (${why}): ${r.stderr.trim() || r.stdout.trim()}`,
          ),
        );
      } else resolve(r);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Runs tasks with at most `limit` in flight; rejects with the first error after all settled. */
export async function parallel<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/** The top-level JSON values of a stream like `ip -j -batch` prints (one array per command). */
export function splitJsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === ']' || c === '}') {
      if (--depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  return values;
}
