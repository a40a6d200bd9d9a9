/** Reading manifests: files, folders (their *.yaml/*.yml/*.json, sorted) and stdin (`-`). */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ManifestError, ManifestErrors, PodnetError } from '@podnet/core';
import { LineCounter, parseAllDocuments } from 'yaml';
import { describe, isMapping } from './fields.js';

/** One Kubernetes object as read from the input. */
export interface ManifestDocument {
  /** The file as the user named it (`web.yaml`, `dir/a.yaml`); `<stdin>` for `-`. */
  file: string;
  /** 0-based index of the YAML document in its file. */
  index: number;
  /** 1-based line where the document starts. */
  line: number;
  /** For an item of a `List` document, the item's index. */
  item?: number;
  /** The parsed object (plain data). */
  object: unknown;
}

export interface LoadOptions {
  /** Reads all of standard input for `-`. @default reads process.stdin */
  readStdin?: () => Promise<string>;
  /** Directory relative inputs are resolved against. @default process.cwd() */
  cwd?: string;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;
export const STDIN_NAME = '<stdin>';

/**
 * Parses every input into documents. YAML syntax errors of all files are reported together as
 * `ManifestErrors` naming the file and line; a missing file is a `PODNET_MANIFEST_UNREADABLE` error.
 */
export async function loadManifests(
  inputs: string[],
  options: LoadOptions = {},
): Promise<ManifestDocument[]> {
  const cwd = options.cwd ?? process.cwd();
  const sources: { file: string; text: string }[] = [];
  let stdinRead = false;
  for (const input of inputs) {
    if (input === '-') {
      if (stdinRead)
        throw new PodnetError('PODNET_MANIFEST_UNREADABLE', '-: standard input can be read only once');
      stdinRead = true;
      sources.push({ file: STDIN_NAME, text: await (options.readStdin ?? readProcessStdin)() });
      continue;
    }
    for (const file of await expandInput(input, cwd)) {
      sources.push({ file, text: await readText(file, resolve(cwd, file)) });
    }
  }
  const errors: ManifestError[] = [];
  const docs: ManifestDocument[] = [];
  for (const s of sources) {
    try {
      docs.push(...parseManifestText(s.text, s.file));
    } catch (e) {
      if (e instanceof ManifestErrors) errors.push(...e.errors);
      else throw e;
    }
  }
  if (errors.length > 0) throw new ManifestErrors(errors);
  return docs;
}

async function expandInput(input: string, cwd: string): Promise<string[]> {
  const path = resolve(cwd, input);
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    throw unreadable(input, e);
  }
  if (!isDir) return [input];
  const names = (await readdir(path, { withFileTypes: true }))
    .filter((d) => d.isFile() && MANIFEST_FILE.test(d.name))
    .map((d) => d.name)
    .sort();
  if (names.length === 0) {
    throw new PodnetError(
      'PODNET_MANIFEST_UNREADABLE',
      `${input}: the folder holds no .yaml, .yml or .json files`,
    );
  }
  return names.map((n) => join(input, n));
}

async function readText(file: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw unreadable(file, e);
  }
}

function unreadable(file: string, e: unknown): PodnetError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const why =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES'
        ? 'permission denied'
        : String((e as Error)?.message ?? e);
  return new PodnetError('PODNET_MANIFEST_UNREADABLE', `${file}: ${why}`, { cause: e });
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses one file's text (multi-document YAML or JSON); `List` documents are unwrapped. */
export function parseManifestText(text: string, file = '<inline>'): ManifestDocument[] {
  const lines = new LineCounter();
  const errors: ManifestError[] = [];
  const out: ManifestDocument[] = [];
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  parsed.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const { line, col } = lines.linePos(err.pos[0]);
        const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        errors.push(new ManifestError({ file }, `line ${line}, column ${col}: YAML syntax error: ${msg}`));
      }
      return;
    }
    if (doc.contents === null) return;
    const line = lines.linePos(doc.contents.range?.[0] ?? doc.range[0]).line;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      errors.push(new ManifestError({ file }, `line ${line}: ${(e as Error).message}`));
      return;
    }
    if (value === null || value === undefined) return;
    if (!isMapping(value)) {
      errors.push(
        new ManifestError(
          { file },
          `line ${line}: document ${index + 1} must be a Kubernetes object (a mapping), got ${describe(value)}`,
        ),
      );
      return;
    }
    if (
      value.kind === 'List' ||
      (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items))
    ) {
      const items = value.items;
      if (!Array.isArray(items)) {
        errors.push(
          new ManifestError(
            { file, object: `List (document ${index + 1})`, field: 'items' },
            'must be a list',
          ),
        );
        return;
      }
      items.forEach((item, i) => {
        if (!isMapping(item)) {
          errors.push(
            new ManifestError(
              { file, object: `List (document ${index + 1})`, field: `items[${i}]` },
              `must be a Kubernetes object, got ${describe(item)}`,
            ),
          );
        } else out.push({ file, index, line, item: i, object: item });
      });
      return;
    }
    out.push({ file, index, line, object: value });
  });
  if (errors.length > 0) throw new ManifestErrors(errors);
  return out;
}
