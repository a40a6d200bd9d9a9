import { readFileSync } from 'node:fs';
import { fakeOverallWorld } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { renderIptables } from './iptables-proxy.js';
import { ENSURE_MARKER } from './iptables-rules.js';
import { restoreData, sortIptablesRules } from './test-support.js';

const golden = (name: string) => readFileSync(new URL(`./golden/${name}`, import.meta.url), 'utf8');

// Upstream's fake proxier hard-codes masqueradeMark "0x4000" and a fake iptables without
// --random-fully but with nfacct counters; NewProxier formats the mark with %#08x (0x00004000).
const FAKE_HOST = { host: { randomFully: false, nfacct: true } };
const fakeMark = (text: string) => text.replaceAll('0x00004000', '0x4000');

describe('kube-proxy TestOverallIPTablesRules', () => {
  it('renders the upstream expected rules after sortIPTablesRules', () => {
    const text = renderIptables(fakeOverallWorld(), FAKE_HOST).ipv4;
    const sorted = sortIptablesRules(fakeMark(restoreData(text, ENSURE_MARKER)));
    expect(sorted).toBe(golden('overall-iptables-rules.golden.txt'));
  });

  it('writes *filter then *nat with every chain declared before its rules', () => {
    const text = restoreData(renderIptables(fakeOverallWorld(), FAKE_HOST).ipv4, ENSURE_MARKER);
    expect(text.split('\n')[0]).toBe('*filter');
    expect(text.indexOf('*nat')).toBeGreaterThan(text.indexOf('COMMIT'));
    expect(() => sortIptablesRules(text)).not.toThrow();
  });
});
