import { cpSync } from 'node:fs';
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // The demo's manifests ship with the package.
  onSuccess: async () => {
    cpSync('../../examples', 'dist/examples', { recursive: true });
  },
});
