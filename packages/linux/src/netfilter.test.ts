import { describe, expect, it } from 'vitest';
import { analyzeIptables, iptablesApplyText, ipsetNames, nftApplyText, nftTables } from './netfilter.js';

const MASQ = `*nat
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -j RETURN
COMMIT
*filter
:FLANNEL-FWD - [0:0]
-A FORWARD -j FLANNEL-FWD
COMMIT
`;

describe('iptables restore input', () => {
  it('finds the user chains a text declares and the built-in chains it writes to', () => {
    const a = analyzeIptables(
      `${MASQ}*nat\n:PREROUTING ACCEPT [0:0]\n-I PREROUTING -j KUBE-SERVICES\nCOMMIT\n`,
    );
    expect([...a.keys()]).toEqual(['nat', 'filter']);
    expect(a.get('nat')).toEqual({
      declared: new Set(['FLANNEL-POSTRTG']),
      builtin: new Set(['POSTROUTING', 'PREROUTING']),
    });
    expect(a.get('filter')).toEqual({ declared: new Set(['FLANNEL-FWD']), builtin: new Set(['FORWARD']) });
  });

  it('flushes the built-in chains inside the text’s own first table transaction', () => {
    expect(iptablesApplyText(MASQ, '')).toBe(`*nat
-F POSTROUTING
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -j RETURN
COMMIT
*filter
-F FORWARD
:FLANNEL-FWD - [0:0]
-A FORWARD -j FLANNEL-FWD
COMMIT
`);
  });

  it('empties tables the new text no longer writes and deletes chains only the old text declared', () => {
    const old = `${MASQ}*mangle\n:PODNET-MARK - [0:0]\n-A OUTPUT -j PODNET-MARK\nCOMMIT\n`;
    const out = iptablesApplyText(
      '*nat\n:FLANNEL-POSTRTG - [0:0]\n-A FLANNEL-POSTRTG -j RETURN\nCOMMIT\n',
      old,
    );
    expect(out).toBe(`*filter
-F FORWARD
COMMIT
*mangle
-F OUTPUT
COMMIT
*nat
-F POSTROUTING
:FLANNEL-POSTRTG - [0:0]
-A FLANNEL-POSTRTG -j RETURN
COMMIT
*filter
:FLANNEL-FWD - [0:0]
-X FLANNEL-FWD
COMMIT
*mangle
:PODNET-MARK - [0:0]
-X PODNET-MARK
COMMIT
`);
  });
});

describe('nft input', () => {
  it('names the tables of both nft syntaxes, family defaulting to ip', () => {
    expect(
      nftTables(
        'add table ip kube-proxy { comment "x" ; }\ntable inet filter {\n}\nflush table t\nadd chain ip kube-proxy c\n',
      ),
    ).toEqual(['ip kube-proxy', 'inet filter', 'ip t']);
  });

  it('resets every table either text names, in the same transaction as the new text', () => {
    expect(nftApplyText('add table ip b\n', 'table ip a {\n}\n')).toBe(
      'add table ip a\ndelete table ip a\nadd table ip b\ndelete table ip b\nadd table ip b\n\n',
    );
  });
});

it('names the sets an ipset restore text creates', () => {
  expect(
    ipsetNames(
      'create KUBE-CLUSTER-IP hash:ip,port family inet\nadd KUBE-CLUSTER-IP 10.96.0.1,tcp:443\ncreate KUBE-LOOP-BACK hash:ip,port,ip\n',
    ),
  ).toEqual(['KUBE-CLUSTER-IP', 'KUBE-LOOP-BACK']);
});
