import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManifestErrors, PodnetError } from '@podnet/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCluster } from './build.js';
import { loadManifests, parseManifestText } from './loader.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'podnet-loader-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseManifestText', () => {
  it('reads multi-document YAML, skipping empty documents, and records file, index and line', () => {
    const docs = parseManifestText('---\nkind: A\n---\n\n---\nkind: B\n', 'x.yaml');
    expect(docs.map((d) => [(d.object as { kind: string }).kind, d.file, d.index, d.line])).toEqual([
      ['A', 'x.yaml', 0, 2],
      ['B', 'x.yaml', 2, 6],
    ]);
  });

  it('unwraps List documents as kubectl get -o yaml prints them', () => {
    const docs = parseManifestText(
      'apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n  - kind: Service\n',
      'l.yaml',
    );
    expect(docs.map((d) => [(d.object as { kind: string }).kind, d.item])).toEqual([
      ['Pod', 0],
      ['Service', 1],
    ]);
  });

  it('reads JSON', () => {
    const docs = parseManifestText(
      '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}',
      'a.json',
    );
    expect(docs[0].object).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } });
  });

  it('names file and line of a YAML syntax error, for every broken document', () => {
    let err: unknown;
    try {
      parseManifestText('kind: Pod\nmetadata:\n  name: [a\n---\nkind: x\n  bad: indent\n', 'bad.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestErrors);
    const lines = (err as ManifestErrors).errors.map((e) => e.message);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/^bad\.yaml: line [34], column \d+: YAML syntax error: /);
    expect(lines.some((l) => /^bad\.yaml: line 5, column 7: YAML syntax error: /.test(l))).toBe(true);
    for (const l of lines) expect(l).not.toContain('\n');
  });

  it('refuses duplicate keys and documents that are not objects', () => {
    expect(() => parseManifestText('a: 1\na: 2\n', 'dup.yaml')).toThrow(
      /^dup\.yaml: line 2, column 1: YAML syntax error: Map keys must be unique/,
    );
    expect(() => parseManifestText('- 1\n- 2\n', 'list.yaml')).toThrow(
      'list.yaml: line 1: document 1 must be a Kubernetes object (a mapping), got a list',
    );
  });
});

describe('loadManifests', () => {
  it('reads files, folders (sorted, only manifest extensions) and stdin, naming files as given', async () => {
    await mkdir(join(dir, 'm'));
    await writeFile(join(dir, 'm', 'b.yml'), 'kind: B\n');
    await writeFile(join(dir, 'm', 'a.yaml'), 'kind: A\n');
    await writeFile(join(dir, 'm', 'c.json'), '{"kind": "C"}');
    await writeFile(join(dir, 'm', 'notes.txt'), 'kind: Ignored\n');
    await writeFile(join(dir, 'one.yaml'), 'kind: One\n');
    const docs = await loadManifests(['one.yaml', 'm', '-'], {
      cwd: dir,
      readStdin: async () => 'kind: Stdin\n',
    });
    expect(docs.map((d) => [d.file, (d.object as { kind: string }).kind])).toEqual([
      ['one.yaml', 'One'],
      [join('m', 'a.yaml'), 'A'],
      [join('m', 'b.yml'), 'B'],
      [join('m', 'c.json'), 'C'],
      ['<stdin>', 'Stdin'],
    ]);
  });

  it('reports a missing file as unreadable input', async () => {
    const err = await loadManifests(['nope.yaml'], { cwd: dir }).catch((e) => e);
    expect(PodnetError.isUserError(err)).toBe(true);
    expect(err.code).toBe('PODNET_MANIFEST_UNREADABLE');
    expect(err.message).toBe('nope.yaml: no such file or directory');
  });

  it('collects syntax errors of several files into one ManifestErrors', async () => {
    await writeFile(join(dir, 'x1.yaml'), 'a: [\n');
    await writeFile(join(dir, 'x2.yaml'), 'b: {\n');
    const err = await loadManifests(['x1.yaml', 'x2.yaml'], { cwd: dir }).catch((e) => e);
    expect(err).toBeInstanceOf(ManifestErrors);
    expect(err.errors.map((e: Error) => e.message.split(':')[0])).toEqual(['x1.yaml', 'x2.yaml']);
  });

  it('loadCluster loads and builds a cluster from stdin', async () => {
    const yaml = 'apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n';
    const state = await loadCluster(['-'], { readStdin: async () => yaml });
    expect(state.nodes.map((n) => n.name)).toEqual(['n1']);
  });
});
