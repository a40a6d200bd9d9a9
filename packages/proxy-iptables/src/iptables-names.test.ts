import { describe, expect, it } from 'vitest';
import { endpointChainName, portProtoHash, probability, serviceChainNames } from './iptables-names.js';

describe('kube-proxy chain-name hashes', () => {
  it('matches the vectors of proxier_test.go and anchors.md', () => {
    expect(serviceChainNames('ns1/svc1:p80', 'tcp').svc).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(endpointChainName('ns2/svc2:p80', 'tcp', '10.180.0.2:80')).toBe('KUBE-SEP-RS4RBKLTHTF2IUXJ');
    expect(endpointChainName('ns1/svc1:p80', 'tcp', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(endpointChainName('ns5/svc5:p80', 'tcp', '10.180.0.3:80')).toBe('KUBE-SEP-I77PXRDZVX7PMWMN');
    expect(serviceChainNames('ns5/svc5:p80', 'tcp')).toEqual({
      svc: 'KUBE-SVC-NUKIZ6OKUXPJNT4C',
      svl: 'KUBE-SVL-NUKIZ6OKUXPJNT4C',
      ext: 'KUBE-EXT-NUKIZ6OKUXPJNT4C',
      fw: 'KUBE-FW-NUKIZ6OKUXPJNT4C',
    });
    expect(portProtoHash('ns2/svc2:p80', 'tcp')).toBe('GNZBNJ2PO5MGZ6GT');
  });
});

describe('probability (Go %0.10f of 1/n)', () => {
  it('formats the common cases', () => {
    expect(probability(2)).toBe('0.5000000000');
    expect(probability(3)).toBe('0.3333333333');
    expect(probability(7)).toBe('0.1428571429');
    expect(probability(1)).toBe('1.0000000000');
  });

  it('agrees with toFixed except on exact ties, which Go rounds to even', () => {
    for (let n = 2; n <= 5000; n++) if (n !== 2048) expect(probability(n)).toBe((1 / n).toFixed(10));
    // 1/2048 = 0.00048828125 exactly: toFixed rounds the tie up, Go to the even digit.
    expect((1 / 2048).toFixed(10)).toBe('0.0004882813');
    expect(probability(2048)).toBe('0.0004882812');
  });
});
