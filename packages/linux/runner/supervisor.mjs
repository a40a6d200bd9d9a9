// podnet linux backend: the supervisor of one cluster's apps (a plain ESM script, run detached).
// Usage: node supervisor.mjs --podnet-cluster=NAME CLUSTER_DIR
//
// Reads CLUSTER_DIR/apps.json ({ generation, apps: [{ key, netns, argv, log, ready, hash }] }) at
// start and on SIGHUP; runs each app as `ip netns exec NETNS ARGV...` with stdout and stderr
// appended to its log; restarts a crashed app after a bounded, doubling backoff (reset after 30 s
// of running); an app with a `ready` file is ready once its runner wrote that file. Status goes to
// CLUSTER_DIR/supervisor.json. SIGTERM stops every app (SIGTERM, then SIGKILL after 3 s) and exits;
// so does a vanished CLUSTER_DIR.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [marker, dir] = process.argv.slice(2);
if (!marker?.startsWith('--podnet-cluster=') || !dir) {
  process.stderr.write('usage: supervisor.mjs --podnet-cluster=NAME CLUSTER_DIR\n');
  process.exit(2);
}
const APPS = join(dir, 'apps.json');
const STATUS = join(dir, 'supervisor.json');
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const STABLE_MS = 30_000;
const STOP_GRACE_MS = 3_000;

/** key → { spec, child, pid, state, restarts, streak, since, endpoints, lastExit, timer, onStopped } */
const apps = new Map();
let generation = 0;
let shuttingDown = false;
let dirty = true;
let queue = Promise.resolve();

const log = (msg) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

function writeStatus() {
  if (!dirty || !existsSync(dir)) return;
  dirty = false;
  const out = {};
  for (const [key, r] of apps) {
    out[key] = {
      pid: r.pid ?? null,
      state: r.state,
      restarts: r.restarts,
      endpoints: r.endpoints,
      lastExit: r.lastExit ?? null,
      netns: r.spec.netns,
      log: r.spec.log,
      since: new Date(r.since).toISOString(),
    };
  }
  const tmp = `${STATUS}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify({ pid: process.pid, generation, updatedAt: new Date().toISOString(), apps: out }, null, 2)}\n`);
    renameSync(tmp, STATUS);
  } catch (e) {
    log(`cannot write ${STATUS}: ${e.message}`);
  }
}

function start(rec) {
  apps.set(rec.spec.key, rec);
  if (rec.spec.ready) rmSync(rec.spec.ready, { force: true });
  const fd = openSync(rec.spec.log, 'a');
  const child = spawn('ip', ['netns', 'exec', rec.spec.netns, ...rec.spec.argv], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  rec.child = child;
  rec.pid = child.pid;
  rec.since = Date.now();
  rec.endpoints = [];
  rec.state = rec.spec.ready ? 'starting' : 'running';
  dirty = true;
  child.on('error', (e) => log(`${rec.spec.key}: cannot start: ${e.message}`));
  child.on('exit', (code, signal) => exited(rec, code, signal));
}

function exited(rec, code, signal) {
  rec.child = undefined;
  rec.pid = undefined;
  rec.lastExit = signal ? `signal ${signal}` : `exit ${code}`;
  dirty = true;
  if (rec.onStopped) {
    rec.state = 'stopped';
    rec.onStopped();
    return;
  }
  if (shuttingDown) return;
  rec.streak = Date.now() - rec.since > STABLE_MS ? 1 : rec.streak + 1;
  rec.restarts++;
  const delay = Math.min(BACKOFF_MIN_MS * 2 ** (rec.streak - 1), BACKOFF_MAX_MS);
  rec.state = 'backoff';
  log(`${rec.spec.key}: ${rec.lastExit}; restart ${rec.restarts} in ${delay} ms`);
  rec.timer = setTimeout(() => {
    rec.timer = undefined;
    if (apps.get(rec.spec.key) === rec && !shuttingDown) start(rec);
  }, delay);
}

function stop(rec) {
  if (rec.timer) clearTimeout(rec.timer);
  rec.timer = undefined;
  if (!rec.child) {
    rec.state = 'stopped';
    return Promise.resolve();
  }
  const child = rec.child;
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    rec.onStopped = () => {
      clearTimeout(kill);
      resolve();
    };
    child.kill('SIGTERM');
  });
}

async function load() {
  let doc;
  try {
    doc = JSON.parse(readFileSync(APPS, 'utf8'));
  } catch (e) {
    log(`cannot read ${APPS}: ${e.message}`);
    return;
  }
  const want = new Map(doc.apps.map((a) => [a.key, a]));
  const stopping = [];
  for (const [key, rec] of apps) {
    const next = want.get(key);
    if (!next || next.hash !== rec.spec.hash) {
      log(`${key}: stopping (${next ? 'changed' : 'removed'})`);
      stopping.push(stop(rec).then(() => apps.delete(key)));
    }
  }
  await Promise.all(stopping);
  for (const [key, spec] of want) {
    if (!apps.has(key)) {
      log(`${key}: starting in ${spec.netns}`);
      start({ spec, restarts: 0, streak: 0, state: 'starting', since: Date.now(), endpoints: [] });
    }
  }
  generation = doc.generation;
  dirty = true;
  writeStatus();
}

function checkReady() {
  for (const rec of apps.values()) {
    if (rec.state !== 'starting' || !rec.spec.ready || !existsSync(rec.spec.ready)) continue;
    try {
      const r = JSON.parse(readFileSync(rec.spec.ready, 'utf8'));
      if (r.pid !== rec.pid) continue;
      rec.state = 'ready';
      rec.endpoints = r.endpoints ?? [];
      dirty = true;
    } catch {
      // written atomically; a parse failure means a foreign file: wait for the runner's
    }
  }
}

async function shutdown(why) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`stopping every app (${why})`);
  await Promise.all([...apps.values()].map(stop));
  dirty = true;
  writeStatus();
  process.exit(0);
}

process.on('SIGHUP', () => {
  queue = queue.then(load);
});
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
setInterval(() => {
  if (!existsSync(dir)) {
    shutdown(`${dir} is gone`);
    return;
  }
  checkReady();
  writeStatus();
}, 100);
log(`supervisor ${process.pid} for ${marker.slice('--podnet-cluster='.length)} in ${dir}`);
queue = queue.then(load);
