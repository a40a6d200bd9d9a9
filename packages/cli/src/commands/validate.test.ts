import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadCluster } from '@podnet/cluster';
import { stableJson } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
/** The ClusterIP the allocator gives default/web in the two-node example. */
const WEB_IP = (await loadCluster([`${root}examples/two-node.yaml`])).services.find((s) => s.name === 'web')!.clusterIPs[0];
const run = async (args: string[], stdin = '') => {
  const io = bufferIo(stdin, root);
  const code = await main(args, io);
  return { code, out: io.stdout, err: io.stderr };
};

describe('podnet validate', () => {
  it('prints nodes with podCIDRs, pods with nodes and IPs, services with ClusterIPs and endpoints', async () => {
    const { code, out, err } = await run(['validate', '-f', 'examples/two-node.yaml']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/^node-1 +Ready +192\.168\.50\.10 +192\.168\.50\.0\/24 +10\.244\.0\.0\/24$/m);
    expect(out).toMatch(/^node-2 +Ready +192\.168\.50\.11 +192\.168\.50\.0\/24 +10\.244\.1\.0\/24$/m);
    expect(out).toMatch(/^default +client +node-1 +10\.244\.0\.2 +Running +true$/m);
    expect(out).toMatch(/^default +web-\w+-\w+ +node-2 +10\.244\.1\.\d+ +Running +true$/m);
    expect(out).toContain(`default/web  ClusterIP  ${WEB_IP}\n  http 80/TCP -> http: `);
    const endpoints = /http 80\/TCP -> http: (.*)$/m.exec(out)?.[1].split(', ');
    expect(endpoints).toHaveLength(3);
    for (const e of endpoints ?? []) expect(e).toMatch(/^10\.244\.[01]\.\d+:8080$/);
    expect(out).toContain('kube-system/kube-dns  ClusterIP  10.96.0.10\n  dns 53/UDP -> 53: ');
    expect(out.trimEnd().split('\n').at(-1)).toBe(
      'valid: 2 nodes, 6 pods, 2 services, 2 endpoint slices, 0 warnings',
    );
  });

  it('prints every error on its own line with file, object and field, exit 2, no stack trace', async () => {
    const bad = [
      'apiVersion: v1',
      'kind: Node',
      'metadata: { name: n1 }',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: web }',
      'spec:',
      '  ports: [{ port: 70000 }]',
      '---',
      'apiVersion: v1',
      'kind: Pod',
      'metadata: { name: p }',
      'spec:',
      '  nodeName: n9',
      '  containers: [{ name: main }]',
    ].join('\n');
    const { code, out, err } = await run(['validate', '-f', '-'], bad);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toBe(
      '<stdin>: Service default/web: spec.ports[0].port: must be 1-65535\n<stdin>: Pod default/p: spec.nodeName: Node "n9" not found (nodes: n1)\n',
    );
  });

  it('shows warnings in the summary', async () => {
    const yaml =
      'apiVersion: v1\nkind: Node\nmetadata: { name: n1 }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n';
    const { code, out } = await run(['validate', '-f', '-'], yaml);
    expect(code).toBe(0);
    expect(out).toContain(
      'WARNINGS (1)\n<stdin>: ConfigMap (document 2): unknown kind ConfigMap (apiVersion v1): ignored\n',
    );
  });

  it('lists ingresses with their backends and network policies with their pod selectors', async () => {
    const yaml = [
      'apiVersion: v1',
      'kind: Node',
      'metadata: { name: n1 }',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: web }',
      'spec: { selector: { app: web }, ports: [{ name: http, port: 80 }] }',
      '---',
      'apiVersion: networking.k8s.io/v1',
      'kind: Ingress',
      'metadata: { name: web }',
      'spec:',
      '  defaultBackend: { service: { name: web, port: { name: http } } }',
      '  rules: [{ host: web.example, http: { paths: [{ path: /api, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }] } }]',
      '---',
      'apiVersion: networking.k8s.io/v1',
      'kind: NetworkPolicy',
      'metadata: { name: deny }',
      'spec: { podSelector: { matchLabels: { app: web } } }',
    ].join('\n');
    const { code, out } = await run(['validate', '-f', '-'], yaml);
    expect(code).toBe(0);
    expect(out).toContain(
      'INGRESSES (1)\ndefault/web  class podnet\n  (default backend) -> web:http\n  web.example/api (Prefix) -> web:80\n',
    );
    expect(out).toContain('NETWORK POLICIES (1)\ndefault/deny  pods app=web  Ingress\n');
    expect(out).toContain('podnet-ingress/ingress-controller  NodePort');
    expect(out).toContain('WARNINGS (1)\n<stdin>: Service default/web: spec.selector: selects no pods: the Service has no endpoints\n');
  });

  it('-o json prints the whole resolved state as stable JSON', async () => {
    const { code, out } = await run(['validate', '-f', 'examples/three-node-two-subnets.yaml', '-o', 'json']);
    expect(code).toBe(0);
    const state = await loadCluster(['examples/three-node-two-subnets.yaml'], { cwd: root });
    expect(out).toBe(`${stableJson(state)}\n`);
  });

  it('refuses missing -f, missing files and unknown formats with exit 2', async () => {
    expect(await run(['validate'])).toMatchObject({
      code: 2,
      err: '-f: give at least one manifest file, folder, or - for stdin\n',
    });
    expect(await run(['validate', '-f', 'nope.yaml'])).toMatchObject({
      code: 2,
      err: 'nope.yaml: no such file or directory\n',
    });
    expect(await run(['validate', '-f', 'examples', '-o', 'yaml'])).toMatchObject({
      code: 2,
      err: '-o: unknown output format "yaml" (json)\n',
    });
  });

  it('-f - reads the same manifests from stdin', async () => {
    const { code, out } = await run(['validate', '-f', 'examples/two-node.yaml']);
    const viaStdin = await run(
      ['validate', '-f', '-'],
      readFileSync(`${root}examples/two-node.yaml`, 'utf8'),
    );
    expect(code).toBe(0);
    expect(viaStdin.out).toBe(out);
  });
});
