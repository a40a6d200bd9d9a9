import { describe, expect, it } from 'vitest';
import { netnsExec, netnsSkipReason, runCommand, withNetns } from './netns.js';

const reason = netnsSkipReason();
if (reason) console.log(`netns.linux.test.ts: skipped: ${reason}`);

const listed = () => runCommand(['ip', 'netns', 'list']);

describe.skipIf(reason !== '')('withNetns', () => {
  it('creates uniquely prefixed namespaces and deletes them when fn returns', async () => {
    const names: string[] = [];
    const result = await withNetns('pncore', (netns) => {
      names.push(netns('a'), netns('b'));
      expect(netnsExec(names[0], ['ip', '-o', 'link', 'show', 'lo'])).toContain('lo:');
      return 42;
    });
    expect(result).toBe(42);
    expect(names[0]).toMatch(/^pncore-[0-9a-z]+-a$/);
    expect(names[1]).toBe(names[0].replace(/-a$/, '-b'));
    const now = listed();
    for (const n of names) expect(now).not.toContain(n);
  });

  it('gives two calls different names for the same tag', async () => {
    const first = await withNetns('pncore', (netns) => netns('x'));
    const second = await withNetns('pncore', (netns) => netns('x'));
    expect(first).not.toBe(second);
  });

  it('deletes the namespaces and rethrows when fn fails, also asynchronously', async () => {
    let name = '';
    await expect(
      withNetns('pncore', async (netns) => {
        name = netns('fail');
        await new Promise((r) => setTimeout(r, 1));
        throw new Error('test body failed');
      }),
    ).rejects.toThrow('test body failed');
    expect(name).not.toBe('');
    expect(listed()).not.toContain(name);
  });
});

describe('netnsSkipReason', () => {
  it('names a missing command', () => {
    if (process.platform === 'linux' && process.getuid?.() === 0) {
      expect(netnsSkipReason(['podnet-no-such-command'])).toBe('missing podnet-no-such-command');
    } else {
      expect(netnsSkipReason(['podnet-no-such-command'])).toMatch(/^not (Linux|root)$/);
    }
  });
});

describe('runCommand', () => {
  it('returns stdout, and throws with the command and stderr when it fails', () => {
    expect(runCommand(['sh', '-c', 'cat'], 'hello')).toBe('hello');
    expect(() => runCommand(['sh', '-c', 'echo oops >&2; exit 3'])).toThrow(
      'sh -c echo oops >&2; exit 3 failed (3): oops',
    );
  });
});
