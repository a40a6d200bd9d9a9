// podnet's DNS server as a standalone process for the benchmark (so its CPU time is its own).
// Usage: node podnet-dns-server.mjs STATE.json PORT   (build first: npx tsup in packages/core and packages/dns)
// Prints `ready udp …, tcp …, http HOST:PORT/metrics`: the bench reads the server's own query counters there.
import { readFileSync } from 'node:fs';
import { startDnsServer } from '../../packages/dns/dist/index.js';

const [statePath, port] = process.argv.slice(2);
const state = JSON.parse(readFileSync(statePath, 'utf8'));
const server = await startDnsServer({
  state,
  listen: `127.0.0.1:${port}`,
  health: false,
  ready: false,
  metrics: '127.0.0.1:0',
  resolver: { serial: 1 },
});
process.stdout.write(`ready ${server.endpoints.join(', ')}\n`);
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
