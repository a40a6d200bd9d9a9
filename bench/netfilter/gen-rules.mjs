// kube-proxy-shaped rule text for N ClusterIP services x M endpoints, in the shape of
// /work/shared/reference/perf-scripts/gen-kube-proxy-rules.js (iptables mode: KUBE-SERVICES with
// one jump per service, KUBE-SVC-* with a KUBE-MARK-MASQ rule and M statistic jumps, KUBE-SEP-*
// with a masquerade-hairpin rule and a DNAT; nftables mode: a service-ips verdict map, a
// numgen vmap per service, one chain per endpoint).
import { createHash } from 'node:crypto';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(buf) {
  let bits = 0;
  let val = 0;
  let out = '';
  for (const b of buf) {
    val = (val << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(val >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}
const hash = (s) => base32(createHash('sha256').update(s).digest());
const ip4 = (a, b, i) => `${a}.${b + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
export const serviceIP = (i) => ip4(10, 96, i + 1);
export const endpointIP = (j) => ip4(10, 244, j + 2);
export const CLUSTER_CIDR = '10.244.0.0/14';

export function services(n, m) {
  return Array.from({ length: n }, (_, i) => {
    const name = `ns${i % 50}/svc-${i}`;
    const spn = `${name}:http`;
    const eps = Array.from({ length: m }, (_, k) => ({ ip: endpointIP(i * m + k), port: 8080 }));
    return { i, name, spn, ip: serviceIP(i), port: 80, eps, hash: hash(`${spn}tcp`) };
  });
}

export function iptablesText(svcs) {
  const L = [
    '*filter',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-EXTERNAL-SERVICES - [0:0]',
    ':KUBE-FORWARD - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-PROXY-FIREWALL - [0:0]',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    'COMMIT',
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
  ];
  const rules = [];
  for (const s of svcs) {
    const svc = `KUBE-SVC-${s.hash.slice(0, 16)}`;
    L.push(`:${svc} - [0:0]`);
    rules.push(`-A ${svc} -m comment --comment "${s.spn} cluster IP" -m tcp -p tcp -d ${s.ip} --dport ${s.port} ! -s ${CLUSTER_CIDR} -j KUBE-MARK-MASQ`);
    s.eps.forEach((e, k) => {
      const sep = `KUBE-SEP-${hash(`${s.spn}tcp${e.ip}:${e.port}`).slice(0, 16)}`;
      L.push(`:${sep} - [0:0]`);
      const left = s.eps.length - k;
      const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
      rules.push(`-A ${svc} -m comment --comment "${s.spn} -> ${e.ip}:${e.port}"${stat} -j ${sep}`);
      rules.push(`-A ${sep} -m comment --comment "${s.spn}" -s ${e.ip}/32 -j KUBE-MARK-MASQ`);
      rules.push(`-A ${sep} -m comment --comment "${s.spn}" -m tcp -p tcp -j DNAT --to-destination ${e.ip}:${e.port}`);
    });
    s.svcChain = svc;
  }
  L.push(
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
  );
  for (const s of svcs) {
    L.push(`-A KUBE-SERVICES -m comment --comment "${s.spn} cluster IP" -m tcp -p tcp -d ${s.ip} --dport ${s.port} -j ${s.svcChain}`);
  }
  L.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  L.push(...rules, 'COMMIT');
  return `${L.join('\n')}\n`;
}

/** The base-chain jumps kube-proxy adds with plain iptables calls. */
export const iptablesJumps =
  '*nat\n-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n' +
  '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n' +
  '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING\nCOMMIT\n';

export function nftText(svcs) {
  const L = [
    'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    'flush table ip kube-proxy',
    'add chain ip kube-proxy mark-for-masquerade',
    'add rule ip kube-proxy mark-for-masquerade meta mark set meta mark or 0x4000',
    'add chain ip kube-proxy masquerading',
    'add rule ip kube-proxy masquerading meta mark & 0x4000 == 0 return',
    'add rule ip kube-proxy masquerading meta mark set meta mark xor 0x4000',
    'add rule ip kube-proxy masquerading masquerade fully-random',
    'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
    'add chain ip kube-proxy services',
    'add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips',
    'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
    'add rule ip kube-proxy nat-prerouting jump services',
    'add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }',
    'add rule ip kube-proxy nat-output jump services',
    'add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }',
    'add rule ip kube-proxy nat-postrouting jump masquerading',
  ];
  const C = [];
  const R = [];
  const E = [];
  for (const s of svcs) {
    const sc = `service-${s.hash.slice(0, 8)}-${s.name}/tcp/http`;
    const eps = s.eps.map((e) => `endpoint-${hash(`${s.spn}${e.ip}${e.port}`).slice(0, 8)}-${s.name}/tcp/http__${e.ip}/${e.port}`);
    C.push(`add chain ip kube-proxy ${sc}`, `flush chain ip kube-proxy ${sc}`);
    R.push(`add rule ip kube-proxy ${sc} ip daddr ${s.ip} tcp dport ${s.port} ip saddr != ${CLUSTER_CIDR} jump mark-for-masquerade`);
    R.push(`add rule ip kube-proxy ${sc} numgen random mod ${eps.length} vmap { ${eps.map((c, k) => `${k} : goto ${c}`).join(' , ')} }`);
    s.eps.forEach((e, k) => {
      C.push(`add chain ip kube-proxy ${eps[k]}`, `flush chain ip kube-proxy ${eps[k]}`);
      R.push(`add rule ip kube-proxy ${eps[k]} ip saddr ${e.ip} jump mark-for-masquerade`);
      R.push(`add rule ip kube-proxy ${eps[k]} meta l4proto tcp dnat to ${e.ip}:${e.port}`);
    });
    E.push(`add element ip kube-proxy service-ips { ${s.ip} . tcp . ${s.port} : goto ${sc} }`);
  }
  return `${[...L, ...C, ...R, ...E].join('\n')}\n`;
}
