import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type AppModule,
  FeatureMissingError,
  NotFoundError,
  PodnetError,
  SPECIFICATION_VERSION,
} from '@podnet/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAppSpecs, checkApps, defaultResolveEntry } from './apps.js';
import type { FlatApp } from './flatten.js';
import { assertFeatures } from './preflight.js';
import { acquireLock } from './state.js';
import { parseWhoami, whoamiAnswer } from './whoami-app.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'podnet-linux-unit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mod = (id: string, entry?: string): AppModule => ({
  specificationVersion: SPECIFICATION_VERSION,
  id,
  ...(entry ? { entry } : {}),
  emulated() {},
  async run() {
    return { endpoints: [], async stop() {} };
  },
});

const app = (name: string, appId: string, config: unknown, tuns: FlatApp['tuns'] = []): FlatApp => ({
  key: `node-1|${name}`,
  node: 'node-1',
  netns: 'pn-c.p-default_a',
  instance: { name, netns: 'default/a', app: appId, config },
  tuns,
});

const ctx = (registry: Map<string, AppModule>, tunAddon?: string) => ({
  dir,
  marker: '--podnet-cluster=c',
  registry,
  resolveEntry: (e: string) => e,
  runnerDir: '/opt/podnet/runner',
  tunAddon,
});

describe('app specs', () => {
  it('runs a module through the app runner with its config file, marker and ready file', () => {
    const [spec] = buildAppSpecs(
      [app('workload:default/a', 'workload', { pod: { namespace: 'default', name: 'a' }, ports: [] })],
      ctx(new Map([['workload', mod('workload', 'file:///w.mjs')]])),
    );
    expect(spec.argv.slice(1)).toEqual([
      '/opt/podnet/runner/app-runner.mjs',
      '--podnet-cluster=c',
      '--app=node-1|workload:default/a',
      'file:///w.mjs',
      'workload',
      expect.stringMatching(/\/apps\/node-1_workload_default_a-[0-9a-f]{8}\.json$/),
      expect.stringMatching(/\/run\/node-1_workload_default_a-[0-9a-f]{8}\.ready$/),
    ]);
    expect(JSON.parse(readFileSync(spec.argv[6], 'utf8'))).toEqual({
      pod: { namespace: 'default', name: 'a' },
      ports: [],
    });
    expect(spec.netns).toBe('pn-c.p-default_a');
  });

  it('runs a workload’s container command itself, ready once started', () => {
    const [spec] = buildAppSpecs(
      [
        app('workload:default/a', 'workload', {
          pod: { namespace: 'default', name: 'a' },
          ports: [],
          command: ['sleep', '1000'],
        }),
      ],
      ctx(new Map()),
    );
    expect(spec).toMatchObject({ argv: ['sleep', '1000'], ready: null });
  });

  it('passes the TUN devices an app owns and the helper addon', () => {
    const [spec] = buildAppSpecs(
      [app('flannel-udp', 'flannel-udp', {}, [{ name: 'flannel0', mtu: 1472 }])],
      ctx(new Map([['flannel-udp', mod('flannel-udp', 'file:///u.mjs')]]), '/x/podnet_tun.node'),
    );
    expect(spec.argv).toContain('--tun=flannel0');
    expect(spec.argv).toContain('--tun-addon=/x/podnet_tun.node');
    expect(() =>
      buildAppSpecs(
        [app('flannel-udp', 'flannel-udp', {}, [{ name: 'flannel0' }])],
        ctx(new Map([['flannel-udp', mod('flannel-udp', 'file:///u.mjs')]])),
      ),
    ).toThrow(FeatureMissingError);
  });

  it('changes the spec hash when the config changes, so the supervisor restarts the app', () => {
    const reg = new Map([['workload', mod('workload', 'file:///w.mjs')]]);
    const h = (port: number) =>
      buildAppSpecs(
        [
          app('w', 'workload', {
            pod: { namespace: 'default', name: 'a' },
            ports: [{ port, protocol: 'TCP' }],
          }),
        ],
        ctx(reg),
      )[0].hash;
    expect(h(80)).toBe(h(80));
    expect(h(80)).not.toBe(h(81));
  });

  it('refuses apps it cannot start, before anything is created', () => {
    expect(() =>
      checkApps([app('w', 'workload', {})], { registry: new Map(), resolveEntry: (e) => e }),
    ).toThrow(NotFoundError);
    expect(() =>
      checkApps([app('w', 'workload', {})], { registry: new Map(), resolveEntry: (e) => e }),
    ).toThrow(/workloadApp of @podnet\/emulator/);
    expect(() =>
      checkApps([app('d', 'dns', {})], { registry: new Map([['dns', mod('dns')]]), resolveEntry: (e) => e }),
    ).toThrow(/app module "dns" has no `entry`/);
  });
});

describe('entry resolution', () => {
  it('keeps file URLs and turns absolute paths into file URLs', () => {
    expect(defaultResolveEntry('file:///a/b.mjs', 'x')).toBe('file:///a/b.mjs');
    expect(defaultResolveEntry('/a/b.mjs', 'x')).toBe('file:///a/b.mjs');
  });

  it('finds a package subpath export under node_modules upward from the working directory', () => {
    const pkg = join(dir, 'proj', 'node_modules', '@acme', 'apps');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({
        name: '@acme/apps',
        exports: {
          '.': './dist/index.js',
          './echo': { types: './dist/echo.d.ts', import: './dist/echo.js' },
        },
      }),
    );
    const cwd = process.cwd();
    const sub = join(dir, 'proj', 'src', 'deep');
    mkdirSync(sub, { recursive: true });
    const spy = process.cwd;
    process.cwd = () => sub;
    try {
      expect(defaultResolveEntry('@acme/apps/echo', 'echo')).toBe(
        pathToFileURL(join(pkg, 'dist/echo.js')).href,
      );
      expect(defaultResolveEntry('@acme/apps', 'echo')).toBe(pathToFileURL(join(pkg, 'dist/index.js')).href);
      expect(() => defaultResolveEntry('@acme/none', 'echo')).toThrow(
        /cannot resolve entry "@acme\/none" of app module "echo"/,
      );
    } finally {
      process.cwd = spy;
    }
    expect(process.cwd()).toBe(cwd);
  });
});

describe('whoami replies', () => {
  const peer = { address: '::ffff:10.244.0.2', port: 40000, localAddress: '10.244.1.2', localPort: 8080 };
  it('answers raw TCP with one JSON line and HTTP with a 200 carrying it', () => {
    const raw = new TextDecoder().decode(whoamiAnswer('default/w', new TextEncoder().encode('ping\n'), peer));
    expect(parseWhoami(raw)).toEqual({
      pod: 'default/w',
      client: '10.244.0.2',
      clientPort: 40000,
      local: '10.244.1.2',
      localPort: 8080,
    });
    const http = new TextDecoder().decode(
      whoamiAnswer('default/w', new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), peer),
    );
    expect(http).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(parseWhoami(http)?.pod).toBe('default/w');
    expect(parseWhoami('HTTP/1.1 200 OK\r\n\r\nweb-0')).toBeUndefined();
  });
});

describe('preflight verdict and lock', () => {
  it('names every missing feature in one error', () => {
    expect(() => assertFeatures([{ feature: 'root', ok: true }])).not.toThrow();
    try {
      assertFeatures([
        { feature: 'ipvs', ok: false, reason: 'kernel lacks ip_vs' },
        { feature: 'ipvsadm', ok: false, reason: 'ipvsadm not found on PATH' },
      ]);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FeatureMissingError);
      expect((e as FeatureMissingError).feature).toBe('ipvs');
      expect((e as Error).message).toBe(
        'this host cannot run the plan: ipvs: kernel lacks ip_vs; ipvsadm: ipvsadm not found on PATH',
      );
    }
  });

  it('lets one apply at a time hold a cluster, and takes over a dead holder’s lock', () => {
    const d = join(dir, 'lock-test');
    const release = acquireLock(d, 'c');
    expect(() => acquireLock(d, 'c')).toThrow(PodnetError);
    release();
    const again = acquireLock(d, 'c');
    again();
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'lock'), '999999999');
    acquireLock(d, 'c')();
  });
});
