// podnet linux backend: runs one app inside the current network namespace (started by the
// supervisor as `ip netns exec NETNS node app-runner.mjs ...`).
// Usage: node app-runner.mjs --podnet-cluster=NAME --app=KEY [--tun=DEV --tun-addon=PATH]
//                            ENTRY_URL APP_ID CONFIG_FILE READY_FILE
//
// Imports the AppModule (the module's default export, or a named export whose `id` is APP_ID),
// opens the TUN devices the app owns with the native helper (the first one's descriptor becomes
// `config.tunFd`), calls `run(config)`, writes READY_FILE ({ pid, endpoints }) and serves until
// SIGTERM/SIGINT, which call `stop()`.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const [entry, appId, configFile, readyFile] = args.filter((a) => !a.startsWith('--'));
const flag = (name) => flags.filter((f) => f.startsWith(`--${name}=`)).map((f) => f.slice(name.length + 3));

function fail(message) {
  process.stderr.write(`app-runner: ${message}\n`);
  process.exit(1);
}

const isApp = (m) => m && typeof m === 'object' && m.id === appId && typeof m.run === 'function';

async function main() {
  if (!entry || !appId || !configFile || !readyFile) fail('usage: app-runner.mjs FLAGS ENTRY_URL APP_ID CONFIG_FILE READY_FILE');
  const mod = await import(entry);
  const app = isApp(mod.default) ? mod.default : Object.values(mod).find(isApp);
  if (!app) fail(`${entry} exports no AppModule with id "${appId}" (default export or named export)`);
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  const tuns = flag('tun');
  if (tuns.length > 0) {
    const [addon] = flag('tun-addon');
    if (!addon) fail(`app ${appId} owns TUN ${tuns.join(', ')} but no --tun-addon was given`);
    const { openTun } = createRequire(import.meta.url)(addon);
    const fds = Object.fromEntries(tuns.map((t) => [t, openTun(t)]));
    config.tunFd = fds[tuns[0]];
    if (tuns.length > 1) config.tunFds = fds;
  }
  const running = await app.run(config);
  const tmp = `${readyFile}.tmp`;
  writeFileSync(tmp, JSON.stringify({ pid: process.pid, endpoints: running.endpoints ?? [] }));
  renameSync(tmp, readyFile);
  process.stdout.write(`${new Date().toISOString()} ${appId} ready: ${(running.endpoints ?? []).join(', ')}\n`);
  setInterval(() => undefined, 2 ** 30);
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${new Date().toISOString()} ${appId} stopping (${signal})\n`);
    await Promise.race([running.stop(), new Promise((r) => setTimeout(r, 2000))]);
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => fail(e?.stack ?? String(e)));
