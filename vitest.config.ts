import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
const dirs = readdirSync(`${root}packages`).filter((d) => existsSync(`${root}packages/${d}/package.json`));

// Tests import sibling packages from source, so a test run needs no build of its dependencies.
const alias = [
  { find: /^@podnet\/core\/testing$/, replacement: `${root}packages/core/src/testing/index.ts` },
  ...dirs
    .filter((d) => d !== 'cli')
    .map((d) => ({ find: new RegExp(`^@podnet/${d}$`), replacement: `${root}packages/${d}/src/index.ts` })),
];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      ...dirs.map((d) => ({
        resolve: { alias },
        test: {
          // `linux` is the real-kernel project below; the linux backend package's unit tests run as `linux-unit`.
          name: d === 'linux' ? 'linux-unit' : d,
          root: `${root}packages/${d}`,
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.linux.test.ts', '**/node_modules/**', '**/dist/**'],
          testTimeout: 30_000,
        },
      })),
      {
        resolve: { alias },
        test: {
          name: 'linux',
          root,
          include: ['packages/*/src/**/*.linux.test.ts', 'packages/*/test/**/*.linux.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
