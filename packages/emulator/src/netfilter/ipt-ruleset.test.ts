import { PodnetError, RuleParseError } from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IptablesRuleset } from './ipt-ruleset.js';
import { splitWords } from './words.js';

function restore(rs: IptablesRuleset, text: string, noflush = false) {
  rs.restore(text, { noflush, source: 'test.rules' });
}

function rules(rs: IptablesRuleset, table: string, chain: string): string[] {
  return rs
    .table(table)!
    .chains.get(chain)!
    .rules.map((r) => r.text);
}

function parseError(fn: () => void): RuleParseError {
  try {
    fn();
  } catch (e) {
    expect(PodnetError.is(e)).toBe(true);
    expect(e).toBeInstanceOf(RuleParseError);
    return e as RuleParseError;
  }
  throw new Error('expected a RuleParseError');
}

describe('iptables-restore', () => {
  it('creates built-in and declared chains and appends rules in order', () => {
    const rs = new IptablesRuleset(4);
    restore(
      rs,
      '*filter\n:INPUT DROP [0:0]\n:KUBE-FORWARD - [0:0]\n-A KUBE-FORWARD -j ACCEPT\n-A FORWARD -j KUBE-FORWARD\nCOMMIT\n',
    );
    const t = rs.table('filter')!;
    expect([...t.chains.keys()]).toEqual(['INPUT', 'FORWARD', 'OUTPUT', 'KUBE-FORWARD']);
    expect(t.chains.get('INPUT')!.policy).toBe('DROP');
    expect(rules(rs, 'filter', 'FORWARD')).toEqual(['-A FORWARD -j KUBE-FORWARD']);
  });

  it('without --noflush replaces the whole table, policies included', () => {
    const rs = new IptablesRuleset(4);
    restore(rs, '*filter\n:FORWARD DROP [0:0]\n:A - [0:0]\n-A FORWARD -j A\nCOMMIT\n');
    restore(rs, '*filter\n:B - [0:0]\nCOMMIT\n');
    const t = rs.table('filter')!;
    expect(t.chains.has('A')).toBe(false);
    expect(t.chains.get('FORWARD')!.policy).toBe('ACCEPT');
    expect(rules(rs, 'filter', 'FORWARD')).toEqual([]);
  });

  it('with --noflush a declared user chain is flushed, a built-in chain only gets its policy', () => {
    const rs = new IptablesRuleset(4);
    restore(rs, '*filter\n:A - [0:0]\n-A A -j DROP\n-A FORWARD -j A\nCOMMIT\n');
    restore(rs, '*filter\n:FORWARD DROP [0:0]\n:A - [0:0]\n-A A -j RETURN\nCOMMIT\n', true);
    expect(rules(rs, 'filter', 'A')).toEqual(['-A A -j RETURN']);
    expect(rules(rs, 'filter', 'FORWARD')).toEqual(['-A FORWARD -j A']);
    expect(rs.table('filter')!.chains.get('FORWARD')!.policy).toBe('DROP');
  });

  it('supports -I with positions, -D by spec and number, -R, -N, -X, -F, -P, -E', () => {
    const rs = new IptablesRuleset(4);
    restore(
      rs,
      [
        '*filter',
        '-N E',
        '-A E -s 1.1.1.1 -j ACCEPT',
        '-A E -s 2.2.2.2 -j ACCEPT',
        '-I E -s 3.3.3.3 -j ACCEPT',
        '-I E 2 -s 4.4.4.4 -j ACCEPT',
        '-D E -s 2.2.2.2 -j ACCEPT',
        '-R E 1 -s 9.9.9.9 -j DROP',
        '-P FORWARD DROP',
        'COMMIT',
      ].join('\n'),
    );
    expect(rules(rs, 'filter', 'E')).toEqual([
      '-R E 1 -s 9.9.9.9 -j DROP',
      '-I E 2 -s 4.4.4.4 -j ACCEPT',
      '-A E -s 1.1.1.1 -j ACCEPT',
    ]);
    restore(rs, '*filter\n-D E 1\n-E E F\n-N G\n-X G\nCOMMIT\n', true);
    expect(rs.table('filter')!.chains.has('E')).toBe(false);
    expect(rules(rs, 'filter', 'F')).toHaveLength(2);
    expect(rs.table('filter')!.chains.has('G')).toBe(false);
    restore(rs, '*filter\n-F\nCOMMIT\n', true);
    expect(rules(rs, 'filter', 'F')).toEqual([]);
  });

  it('splits comma lists of addresses into one rule each', () => {
    const rs = new IptablesRuleset(4);
    restore(rs, '*filter\n-A FORWARD -s 1.1.1.1,2.2.2.0/24 -d 3.3.3.3 -j ACCEPT\nCOMMIT\n');
    expect(rs.table('filter')!.chains.get('FORWARD')!.rules).toHaveLength(2);
  });

  it('applies tables one at a time: an error keeps the tables committed before it', () => {
    const rs = new IptablesRuleset(4);
    const e = parseError(() =>
      restore(rs, '*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n*nat\n-A PREROUTING -j REJECT\nCOMMIT\n'),
    );
    expect(e.line).toBe(5);
    expect(rules(rs, 'filter', 'FORWARD')).toEqual(['-A FORWARD -j ACCEPT']);
    expect(rs.table('nat')).toBeUndefined();
  });

  it.each([
    ['an unknown option', '*filter\n-A FORWARD --foo -j ACCEPT\nCOMMIT\n', 2, /unknown option "--foo"/],
    [
      '--dport without -p',
      '*filter\n-A FORWARD --dport 80 -j ACCEPT\nCOMMIT\n',
      2,
      /unknown option "--dport"/,
    ],
    [
      'old-style negation',
      '*filter\n-A FORWARD -p tcp --dport ! 80 -j ACCEPT\nCOMMIT\n',
      2,
      /invalid port\/service `!'/,
    ],
    [
      'single quotes',
      "*filter\n-A FORWARD -m comment --comment 'a b' -j ACCEPT\nCOMMIT\n",
      2,
      /Bad argument `b''/,
    ],
    [
      'a jump to an undeclared chain',
      '*filter\n:A - [0:0]\n-A A -j B\n:B - [0:0]\nCOMMIT\n',
      3,
      /Chain 'B' does not exist/,
    ],
    ['a jump to a built-in chain', '*filter\n:E - [0:0]\n-A E -j INPUT\nCOMMIT\n', 3, /INPUT/],
    // iptables-restore reports the line after the last one
    ['a missing COMMIT', '*filter\n-A FORWARD -j ACCEPT\n', 3, /COMMIT expected/],
    ['a rule outside a table', '-A FORWARD -j ACCEPT\n', 1, /outside a table/],
    ['an unknown table', '*foo\nCOMMIT\n', 1, /table name 'foo' invalid/],
    [
      'an unknown match',
      '*filter\n-A FORWARD -m nosuch -j ACCEPT\nCOMMIT\n',
      2,
      /Couldn't load match `nosuch'/,
    ],
    ['REJECT in nat', '*nat\n-A PREROUTING -j REJECT\nCOMMIT\n', 2, /RULE_APPEND failed/],
    ['REJECT in mangle', '*mangle\n:U - [0:0]\n-A U -j REJECT\nCOMMIT\n', 3, /not valid in table mangle/],
    [
      'DNAT reached from POSTROUTING',
      '*nat\n:U - [0:0]\n-A POSTROUTING -j U\n-A U -j DNAT --to-destination 1.2.3.4\nCOMMIT\n',
      4,
      /hook POSTROUTING/,
    ],
    ['MASQUERADE in PREROUTING', '*nat\n-A PREROUTING -j MASQUERADE\nCOMMIT\n', 2, /hook PREROUTING/],
    [
      'DNAT with a port but no protocol',
      '*nat\n-A PREROUTING -j DNAT --to-destination 1.2.3.4:80\nCOMMIT\n',
      2,
      /Need TCP, UDP, SCTP/,
    ],
    [
      'tcp-reset without -p tcp',
      '*filter\n-A INPUT -j REJECT --reject-with tcp-reset\nCOMMIT\n',
      2,
      /TCP RST/,
    ],
    [
      'a loop reached from a built-in chain',
      '*filter\n:L1 - [0:0]\n:L2 - [0:0]\n-A L1 -j L2\n-A L2 -j L1\n-A INPUT -j L1\nCOMMIT\n',
      5,
      /Too many links/,
    ],
    [
      '-X of a referenced chain',
      '*filter\n:C - [0:0]\n-A FORWARD -j C\n-X C\nCOMMIT\n',
      4,
      /Device or resource busy/,
    ],
    [
      '-X of a non-empty chain',
      '*filter\n:D - [0:0]\n-A D -j ACCEPT\n-X D\nCOMMIT\n',
      4,
      /Device or resource busy/,
    ],
    ['-i in OUTPUT', '*filter\n-A OUTPUT -i eth0 -j ACCEPT\nCOMMIT\n', 2, /Can't use -i with OUTPUT/],
    [
      'a bad address',
      '*filter\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n',
      2,
      /host\/network `10.0.0.300' not found/,
    ],
    ['an IPv6 address in iptables', '*filter\n-A INPUT -s fd00::1 -j ACCEPT\nCOMMIT\n', 2, /not found/],
    [
      'statistic without --mode',
      '*nat\n:S - [0:0]\n-A S -m statistic --probability 0.5 -j RETURN\nCOMMIT\n',
      3,
      /no --mode/,
    ],
    [
      'recent --reap without --seconds',
      '*filter\n-A INPUT -m recent --rcheck --reap -j DROP\nCOMMIT\n',
      2,
      /--reap requires --seconds/,
    ],
    ['a chain name too long', '*filter\n:ABCDEFGHIJKLMNOPQRSTUVWXYZ0123 - [0:0]\nCOMMIT\n', 2, /too long/],
  ])('refuses %s, naming the line', (_what, text, line, msg) => {
    const e = parseError(() => restore(new IptablesRuleset(4), text));
    expect(e.line).toBe(line);
    expect(e.source).toBe('test.rules');
    expect(e.message).toMatch(msg);
    expect(e.message.startsWith(`test.rules:${line}: `)).toBe(true);
  });

  it('accepts a loop among chains nothing reaches, as the kernel does', () => {
    const rs = new IptablesRuleset(4);
    restore(rs, '*filter\n:L1 - [0:0]\n:L2 - [0:0]\n-A L1 -j L2\n-A L2 -j L1\nCOMMIT\n');
    expect(rules(rs, 'filter', 'L1')).toHaveLength(1);
  });

  it('checks -m set against the ipsets that exist', () => {
    const rs = new IptablesRuleset(4);
    const checks = {
      ipsetFamily: (n: string) =>
        n === 'KUBE-CLUSTER-IP' ? (4 as const) : n === 'V6' ? (6 as const) : undefined,
    };
    rs.restore(
      '*nat\n-A PREROUTING -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n',
      {},
      checks,
    );
    expect(() =>
      rs.restore('*nat\n-A PREROUTING -m set --match-set NOPE dst -j ACCEPT\nCOMMIT\n', {}, checks),
    ).toThrow(/Set NOPE doesn't exist/);
    expect(() =>
      rs.restore('*nat\n-A PREROUTING -m set --match-set V6 dst -j ACCEPT\nCOMMIT\n', {}, checks),
    ).toThrow(/family/);
  });

  it('parses the kube-proxy rule shapes', () => {
    const rs = new IptablesRuleset(4);
    restore(
      rs,
      [
        '*nat',
        ':KUBE-SERVICES - [0:0]',
        ':KUBE-SVC-X - [0:0]',
        ':KUBE-SEP-Y - [0:0]',
        ':KUBE-MARK-MASQ - [0:0]',
        ':KUBE-NODEPORTS - [0:0]',
        '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
        '-A KUBE-SERVICES -m comment --comment "ns/svc:p cluster IP" -m tcp -p tcp -d 10.96.0.1/32 --dport 443 -j KUBE-SVC-X',
        '-A KUBE-SVC-X -m comment --comment "ns/svc:p -> 10.0.0.5:80" -m recent --name KUBE-SEP-Y --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j KUBE-SEP-Y',
        '-A KUBE-SVC-X -m comment --comment "ns/svc:p -> 10.0.0.5:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-Y',
        '-A KUBE-SEP-Y -m comment --comment ns/svc:p -s 10.0.0.5/32 -j KUBE-MARK-MASQ',
        '-A KUBE-SEP-Y -m comment --comment ns/svc:p -m recent --set --name KUBE-SEP-Y --mask 255.255.255.255 --rsource -m tcp -p tcp -j DNAT --to-destination 10.0.0.5:80',
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
        'COMMIT',
      ].join('\n'),
    );
    const svc = rs.table('nat')!.chains.get('KUBE-SERVICES')!.rules;
    expect(svc[0].comment).toBe('ns/svc:p cluster IP');
    expect(svc[0].target).toEqual({ kind: 'jump', chain: 'KUBE-SVC-X', goto: false });
    const sep = rs.table('nat')!.chains.get('KUBE-SEP-Y')!.rules;
    expect(sep[1].target).toMatchObject({
      kind: 'nat',
      nat: 'dnat',
      range: { minAddr: '10.0.0.5', maxAddr: '10.0.0.5', minPort: 80, maxPort: 80 },
    });
    expect(sep[1].recentNames).toEqual(['KUBE-SEP-Y']);
  });
});

describe('splitWords (iptables-restore quoting)', () => {
  it('keeps quoted text, escapes and empty strings', () => {
    expect(splitWords('-A X -m comment --comment "a b" -j Y')).toEqual([
      '-A',
      'X',
      '-m',
      'comment',
      '--comment',
      'a b',
      '-j',
      'Y',
    ]);
    expect(splitWords('  a  "x \\"y\\" z"  b"c d"e ""')).toEqual(['a', 'x "y" z', 'bc de', '']);
    expect(() => splitWords('a "b')).toThrow(/unterminated/);
  });

  it('round-trips any words through quoting', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 8 }),
        (words) => {
          const line = words.map((w) => `"${w.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(' ');
          expect(splitWords(line)).toEqual(words);
        },
      ),
    );
  });
});
