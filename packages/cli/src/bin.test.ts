/** The built `podnet` binary, spawned once: build output, exit codes and streams as a user sees them. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = `${root}packages/cli/dist/bin.js`;

beforeAll(() => {
  // Build what the binary imports when it is missing: the workspace packages cli depends on, then cli.
  const pkg = JSON.parse(readFileSync(`${root}packages/cli/package.json`, 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const deps = Object.keys(pkg.dependencies)
    .filter((d) => d.startsWith('@podnet/'))
    .map((d) => d.slice('@podnet/'.length))
    .sort((a, b) => (a === 'core' ? -1 : b === 'core' ? 1 : 0));
  for (const [dir, out] of [...deps.map((d) => [d, 'dist/index.js']), ['cli', 'dist/bin.js']]) {
    if (!existsSync(`${root}packages/${dir}/${out}`)) {
      execFileSync('npx', ['tsup', '--no-dts'], { cwd: `${root}packages/${dir}`, stdio: 'pipe' });
    }
  }
}, 120_000);

describe('podnet binary', () => {
  it('validates the two-node example (exit 0) and reports bad input on stderr (exit 2)', () => {
    const ok = spawnSync(process.execPath, [bin, 'validate', '-f', 'examples/two-node.yaml'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^node-2 +Ready +192\.168\.50\.11 +192\.168\.50\.0\/24 +10\.244\.1\.0\/24$/m);
    expect(ok.stdout).toMatch(/^default\/web {2}ClusterIP {2}10\.\d+\.\d+\.\d+$/m);

    const bad = spawnSync(process.execPath, [bin, 'get', 'pods', '-f', '-'], {
      cwd: root,
      encoding: 'utf8',
      input: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [p\n',
    });
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^<stdin>: line 5, column 1: YAML syntax error: .+\n$/);
  });
});
