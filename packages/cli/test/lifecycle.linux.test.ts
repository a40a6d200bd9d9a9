/**
 * `podnet up / exec / status / down` on the real kernel, for each overlay of examples/two-node.yaml:
 * a real HTTP client in default/client reaches a web pod by ClusterIP and by DNS name (real DNS
 * through the kube-dns Service), and down leaves nothing behind.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = `${root}packages/cli/dist/bin.js`;
const example = readFileSync(`${root}examples/two-node.yaml`, 'utf8');
const skip = process.getuid?.() !== 0 ? 'not root' : !existsSync(bin) ? 'packages/cli is not built (pnpm build)' : '';
if (skip) console.warn(`lifecycle.linux.test: skipped: ${skip}`);

const names: string[] = [];
const podnet = (args: string[], input?: string) =>
  spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', input, timeout: 120_000 });
const netns = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

afterAll(() => {
  for (const n of names) podnet(['down', '--name', n]);
});

describe.skipIf(skip !== '')('podnet up/exec/status/down (linux backend)', () => {
  for (const backend of ['vxlan', 'host-gw', 'udp']) {
    it(`${backend}: the client reaches web by ClusterIP and by name; down cleans up`, () => {
      const name = `pnt${process.pid % 10000}${backend.replace('-', '')}`;
      names.push(name);
      const manifest = example.replace(/overlay: \{[^}]*\}/, `overlay: { backend: ${backend} }`);
      const up = podnet(['up', '-f', '-', '--backend', 'linux', '--name', name], manifest);
      expect(up.stderr).not.toMatch(/error/i);
      expect(up.status).toBe(0);
      expect(netns()).toContain(`pn-${name}.`);

      const st = JSON.parse(podnet(['status', '--name', name, '-o', 'json']).stdout);
      expect(st.phase).toBe('ready');
      expect(st.namespaces.every((n: { exists: boolean }) => n.exists)).toBe(true);

      const get = JSON.parse(podnet(['get', 'svc', '-f', '-', '-o', 'json'], manifest).stdout);
      const clusterIP = get.items.find((s: { name: string }) => s.name === 'web').clusterIPs[0];
      const fetch = (url: string) =>
        podnet([
          'exec',
          '--name',
          name,
          'default/client',
          '--',
          process.execPath,
          '-e',
          `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(5000)}).then(r=>r.text()).then(t=>console.log(t.trim()))`,
        ]);
      for (const url of [`http://${clusterIP}/`, 'http://web.default.svc.cluster.local/', 'http://web/']) {
        const r = fetch(url);
        expect(r.status, `${url}: ${r.stderr}`).toBe(0);
        expect(r.stdout.trim()).toMatch(/^web-[a-z0-9]+-[a-z0-9]{5}$/);
      }

      const down = podnet(['down', '--name', name]);
      expect(down.status).toBe(0);
      expect(netns()).not.toContain(`pn-${name}.`);
      expect(existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((d) => d.startsWith(`pn-${name}.`)) : []).toEqual([]);
      expect(spawnSync('pgrep', ['-f', `pn-${name}`]).stdout.toString()).toBe('');
    });
  }
});
