import { readFileSync } from 'node:fs';
import { fakeOverallWorld } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { renderNftables } from './nftables-proxy.js';
import { NftFake, sortNftablesTransaction } from './test-support.js';

const golden = (name: string) => readFileSync(new URL(`./golden/${name}`, import.meta.url), 'utf8');

// Upstream's fake proxier hard-codes masqueradeMark "0x4000"; NewProxier formats it with %#08x.
const fakeMark = (text: string) => text.replaceAll('0x00004000', '0x4000');
// NewFakeProxier's nodePortAddresses.
const FAKE = { nodePortAddresses: ['192.168.0.2/32', '2001:db8::1/128'] };

describe('kube-proxy TestOverallNFTablesRules', () => {
  it('leaves the upstream expected table after assertNFTablesTransactionEqual normalisation', () => {
    const nft = new NftFake();
    nft.apply(renderNftables(fakeOverallWorld(), FAKE));
    expect(sortNftablesTransaction(fakeMark(nft.dump()))).toBe(
      sortNftablesTransaction(golden('overall-nftables-rules.golden.txt')),
    );
  });

  it('is one transaction whose every line is an operation on table ip kube-proxy', () => {
    const text = renderNftables(fakeOverallWorld(), FAKE);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('add table ip kube-proxy { comment "rules for kube-proxy" ; }');
    for (const l of lines)
      expect(l).toMatch(/^(add|flush|delete) (table|chain|rule|set|map|element) ip kube-proxy/);
  });
});
