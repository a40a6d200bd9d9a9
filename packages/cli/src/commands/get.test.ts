import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const run = async (args: string[], stdin = '') => {
  const io = bufferIo(stdin, root);
  const code = await main(args, io);
  return { code, out: io.stdout, err: io.stderr };
};
const TWO = ['-f', 'examples/two-node.yaml'];

const MIXED = `
apiVersion: podnet.dev/v1alpha1
kind: ClusterNetwork
metadata: { name: default }
spec:
  addons: { dns: false }
---
apiVersion: v1
kind: Node
metadata: { name: n1, labels: { node-role.kubernetes.io/control-plane: "" } }
spec: { unschedulable: true }
---
apiVersion: v1
kind: Node
metadata: { name: n2 }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 5
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, ports: [{ name: http, containerPort: 8080 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: np }
spec:
  type: NodePort
  selector: { app: web }
  ports: [{ port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata: { name: lb }
spec:
  type: LoadBalancer
  selector: { app: web }
  ports: [{ port: 443, targetPort: 8443, nodePort: 31443 }]
---
apiVersion: v1
kind: Service
metadata: { name: hl }
spec:
  clusterIP: None
  selector: { app: web }
  ports: [{ port: 80 }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web }
spec:
  tls: [{ hosts: [web.example], secretName: web-tls }]
  rules:
    - host: web.example
      http:
        paths: [{ path: /, pathType: Prefix, backend: { service: { name: np, port: { number: 80 } } } }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny }
spec:
  podSelector:
    matchLabels: { app: web }
    matchExpressions: [{ key: tier, operator: NotIn, values: [a, b] }]
  policyTypes: [Ingress]
`;

describe('podnet get', () => {
  it('pods: NAMESPACE NAME READY STATUS RESTARTS, -o wide adds IP and NODE', async () => {
    const { code, out } = await run(['get', 'pods', ...TWO]);
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE +NAME +READY +STATUS +RESTARTS$/);
    expect(lines[1]).toMatch(/^default +client +1\/1 +Running +0$/);
    expect(lines).toHaveLength(7);
    const wide = await run(['get', 'po', ...TWO, '-o', 'wide']);
    expect(wide.out.split('\n')[0]).toMatch(/^NAMESPACE +NAME +READY +STATUS +RESTARTS +IP +NODE$/);
    expect(wide.out).toMatch(/^default +client +1\/1 +Running +0 +10\.244\.0\.2 +node-1$/m);
  });

  it('aligns columns as kubectl does: widest cell plus three spaces', async () => {
    const { out } = await run(['get', 'nodes', ...TWO]);
    expect(out).toBe(
      [
        'NAME     STATUS   ROLES    INTERNAL-IP     POD-CIDRS',
        'node-1   Ready    <none>   192.168.50.10   10.244.0.0/24',
        'node-2   Ready    <none>   192.168.50.11   10.244.1.0/24',
        '',
      ].join('\n'),
    );
  });

  it('-n filters a namespace and drops the NAMESPACE column', async () => {
    const { out } = await run(['get', 'services', ...TWO, '-n', 'kube-system']);
    expect(out).toBe(
      [
        'NAME       TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)',
        'kube-dns   ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP,9153/TCP',
        '',
      ].join('\n'),
    );
  });

  it('services show NodePorts, pending load balancers and headless services', async () => {
    const { code, out } = await run(['get', 'svc', '-f', '-', '-o', 'wide'], MIXED);
    expect(code).toBe(0);
    expect(out).toMatch(/^default +hl +ClusterIP +None +<none> +80\/TCP +app=web$/m);
    expect(out).toMatch(/^default +lb +LoadBalancer +10\.\d+\.\d+\.\d+ +<pending> +443:31443\/TCP +app=web$/m);
    expect(out).toMatch(/^default +np +NodePort +10\.\d+\.\d+\.\d+ +<none> +80:3\d{4}\/TCP +app=web$/m);
  });

  it('nodes show roles and cordoned status; endpointslices abbreviate long lists', async () => {
    const nodes = await run(['get', 'nodes', '-f', '-'], MIXED);
    expect(nodes.out).toMatch(
      /^n1 +Ready,SchedulingDisabled +control-plane +192\.168\.50\.10 +10\.244\.0\.0\/24$/m,
    );
    const slices = await run(['get', 'endpointslices', '-f', '-', '-n', 'default'], MIXED);
    expect(slices.out).toMatch(
      /^np-\w{5} +IPv4 +8080 +10\.244\.1\.2,10\.244\.1\.3,10\.244\.1\.4 \+ 2 more\.\.\.$/m,
    );
  });

  it('ingresses and networkpolicies', async () => {
    const ing = await run(['get', 'ingresses', '-f', '-'], MIXED);
    expect(ing.out).toMatch(/^NAMESPACE +NAME +CLASS +HOSTS +ADDRESS +PORTS$/m);
    expect(ing.out).toMatch(/^default +web +podnet +web\.example +192\.168\.50\.11 +80, 443$/m);
    const np = await run(['get', 'netpol', '-f', '-'], MIXED);
    expect(np.out).toMatch(/^default +deny +app=web,tier notin \(a,b\) +Ingress$/m);
  });

  it('-o json is stable, sorted JSON of the items', async () => {
    const a = await run(['get', 'pods', ...TWO, '-o', 'json']);
    const b = await run(['get', 'pods', ...TWO, '-o', 'json']);
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    const parsed = JSON.parse(a.out) as { items: { namespace: string; name: string; ips: string[] }[] };
    expect(parsed.items.map((p) => `${p.namespace}/${p.name}`)).toEqual(
      [...parsed.items.map((p) => `${p.namespace}/${p.name}`)].sort(),
    );
    expect(parsed.items[0]).toMatchObject({
      namespace: 'default',
      name: 'client',
      ips: ['10.244.0.2'],
      node: 'node-1',
    });
    expect(Object.keys(parsed.items[0])).toEqual([...Object.keys(parsed.items[0])].sort());
    expect(a.out).toBe(`${JSON.stringify(parsed, null, 2)}\n`);
  });

  it('-o name and NAME filters; a missing name is exit 2', async () => {
    expect((await run(['get', 'services', ...TWO, '-o', 'name'])).out).toBe(
      'service/web\nservice/kube-dns\n',
    );
    const one = await run(['get', 'pods', 'client', ...TWO]);
    expect(one.out.trimEnd().split('\n')).toHaveLength(2);
    expect(await run(['get', 'pods', 'nope', ...TWO])).toMatchObject({
      code: 2,
      err: 'pods "nope" not found\n',
    });
  });

  it('refuses unknown resources and formats, and says when nothing matches', async () => {
    expect(await run(['get', 'widgets', ...TWO])).toMatchObject({
      code: 2,
      err: 'get: unknown resource "widgets" (one of nodes, pods, services, endpointslices, ingresses, networkpolicies)\n',
    });
    expect((await run(['get', 'pods', ...TWO, '-o', 'yaml'])).code).toBe(2);
    expect(await run(['get', 'ingresses', ...TWO])).toMatchObject({
      code: 0,
      out: '',
      err: 'No resources found.\n',
    });
  });

  it('prints warnings to stderr and keeps stdout clean', async () => {
    const yaml =
      'apiVersion: v1\nkind: Node\nmetadata: { name: n1 }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n';
    const { code, out, err } = await run(['get', 'nodes', '-f', '-', '-o', 'name'], yaml);
    expect(code).toBe(0);
    expect(out).toBe('node/n1\n');
    expect(err).toBe(
      'Warning: <stdin>: ConfigMap (document 2): unknown kind ConfigMap (apiVersion v1): ignored\n',
    );
  });
});
