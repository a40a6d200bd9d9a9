#!/usr/bin/env node
// Runs the whole test suite: every package's unit project in one vitest run, then the real-kernel
// project (`*.linux.test.ts`, serial, as root). Prints one closing line `N passed, N failed, N skipped`
// counted from vitest's JSON reports, and exits non-zero when anything failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'podnet-test-'));
const extra = process.argv.slice(2);
const runs = [
  { name: 'unit', args: ['--project', '!linux'] },
  { name: 'linux', args: ['--project', 'linux'] },
];
let passed = 0;
let failed = 0;
let skipped = 0;
let broken = false;
for (const run of runs) {
  const out = join(dir, `${run.name}.json`);
  const r = spawnSync(
    'npx',
    ['vitest', 'run', ...run.args, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, '--passWithNoTests', ...extra],
    { stdio: 'inherit', env: process.env },
  );
  let report;
  try {
    report = JSON.parse(readFileSync(out, 'utf8'));
  } catch {
    console.error(`test: the ${run.name} run wrote no report (exit ${r.status}); counting it as a failure`);
    failed += 1;
    broken = true;
    continue;
  }
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + (report.numTodoTests ?? 0);
  // A file that failed to load (syntax error, import error) has no tests but is a failure.
  const badSuites = report.testResults.filter((s) => s.status === 'failed' && s.assertionResults.length === 0).length;
  failed += badSuites;
  if (r.status !== 0 && report.numFailedTests === 0 && badSuites === 0) {
    console.error(`test: vitest exited ${r.status} for the ${run.name} run`);
    failed += 1;
    broken = true;
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || broken ? 1 : 0);
