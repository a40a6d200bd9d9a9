/**
 * `podnet dig -f FILE... NAME [TYPE] [--from NS/POD] [-o json]`: ask the cluster DNS a question.
 * Without `--from` the name goes to the DNS Service as given (like `dig @10.96.0.10 NAME`); with
 * `--from` it goes through the pod's resolver: its resolv.conf, the search-path expansion (every
 * query tried is listed), the answer the resolver settles on.
 */

import { InvalidArgumentError, isIp, stableJson } from '@podnet/core';
import {
  createResolver,
  type DnsAnswer,
  type DnsRecord,
  KNOWN_TYPES,
  type PodLookup,
  presentData,
  resolveFromPod,
  reverseQuestion,
} from '@podnet/dns';
import { type Command, EXIT, fileOptions, outputOption } from '../command.js';
import type { CliIo } from '../io.js';
import { loadStateFromArgs, printWarnings } from '../load.js';

const fqdn = (n: string) => (n.endsWith('.') ? n : `${n}.`);

function jsonRecord(r: DnsRecord) {
  return { name: fqdn(r.name), type: r.type, ttl: r.ttl, data: presentData(r) };
}

function textRecord(r: DnsRecord): string {
  return `${fqdn(r.name)}\t${r.ttl}\tIN\t${r.type}\t${presentData(r)}`;
}

function flagsOf(a: DnsAnswer) {
  return { aa: a.authoritative, tc: false, rd: true, ra: a.recursionAvailable };
}

function renderText(
  question: { name: string; type: string },
  a: DnsAnswer,
  server: string,
  lookup?: PodLookup,
): string {
  const out: string[] = [];
  if (lookup) {
    const { resolvConf: c } = lookup;
    out.push(`;; resolv.conf of ${lookup.pod.namespace}/${lookup.pod.name}:`);
    if (c.searches.length > 0) out.push(`;;   search ${c.searches.join(' ')}`);
    for (const ns of c.nameservers) out.push(`;;   nameserver ${ns}`);
    if (c.options.length > 0)
      out.push(
        `;;   options ${c.options.map((o) => (o.value === undefined ? o.name : `${o.name}:${o.value}`)).join(' ')}`,
      );
    out.push(`;; queries the resolver made (ndots:${lookup.ndots}):`);
    for (const q of lookup.queries) out.push(`;;   ${fqdn(q.name)}\t${q.type}\t${q.rcode}\t@${q.nameserver}`);
    out.push('');
  }
  const flags = ['qr', ...(['aa', 'rd', 'ra'] as const).filter((f) => flagsOf(a)[f])];
  out.push(';; Got answer:');
  out.push(`;; ->>HEADER<<- opcode: QUERY, status: ${a.rcode}, id: 0`);
  out.push(
    `;; flags: ${flags.join(' ')}; QUERY: 1, ANSWER: ${a.answers.length}, AUTHORITY: ${a.authorities.length}, ADDITIONAL: ${a.additionals.length}`,
  );
  if (!a.recursionAvailable) out.push(';; WARNING: recursion requested but not available');
  out.push('', ';; QUESTION SECTION:', `;${fqdn(question.name)}\t\tIN\t${question.type}`);
  for (const [title, rs] of [
    ['ANSWER', a.answers],
    ['AUTHORITY', a.authorities],
    ['ADDITIONAL', a.additionals],
  ] as const) {
    if (rs.length > 0) out.push('', `;; ${title} SECTION:`, ...rs.map(textRecord));
  }
  out.push('', `;; SERVER: ${server}#53`, '');
  return out.join('\n');
}

export const dig: Command = {
  name: 'dig',
  summary: "ask the cluster DNS, directly or through a pod's resolver (search path, ndots)",
  usage: `podnet dig -f FILE... NAME [${KNOWN_TYPES.filter((t) => t !== 'AXFR' && t !== 'IXFR').join('|')}] [--from NS/POD] [-o json]`,
  options: { ...fileOptions, ...outputOption, from: { type: 'string' } },
  async run({ values, positionals }, io: CliIo) {
    const [name, typeArg, ...extra] = positionals;
    if (!name) throw new InvalidArgumentError('dig', 'give the NAME to look up');
    if (extra.length > 0) throw new InvalidArgumentError('dig', `unexpected argument "${extra[0]}"`);
    const output = values.output;
    if (output !== undefined && output !== 'json')
      throw new InvalidArgumentError('-o', `"${String(output)}" is not an output format (json)`);
    let type = (typeArg ?? (isIp(name) ? 'PTR' : 'A')).toUpperCase();
    if (!(KNOWN_TYPES as readonly string[]).includes(type)) {
      throw new InvalidArgumentError('dig', `"${typeArg}" is not a record type (${KNOWN_TYPES.join(', ')})`);
    }
    const qname = isIp(name) ? reverseQuestion(name).name : name;
    if (isIp(name) && typeArg === undefined) type = 'PTR';
    const state = await loadStateFromArgs(values, io);
    printWarnings(state, io);

    let answer: DnsAnswer;
    let question = { name: qname, type };
    let server = state.network.dns.serviceIP;
    let lookup: PodLookup | undefined;
    if (typeof values.from === 'string') {
      if (!/^[^/]+\/[^/]+$/.test(values.from))
        throw new InvalidArgumentError('--from', `"${values.from}" is not NAMESPACE/POD`);
      lookup = resolveFromPod(state, values.from, qname, type);
      answer = lookup.response;
      question = { name: lookup.question.name, type };
      server = lookup.queries[lookup.queries.length - 1]?.nameserver ?? server;
    } else {
      answer = createResolver(state).resolve({ name: qname, type }, { recursion: true });
    }

    if (output === 'json') {
      const json: Record<string, unknown> = {
        rcode: answer.rcode,
        flags: flagsOf(answer),
        answers: answer.answers.map(jsonRecord),
        authority: answer.authorities.map(jsonRecord),
        additionals: answer.additionals.map(jsonRecord),
      };
      if (lookup)
        json.queries = lookup.queries.map((q) => ({ name: fqdn(q.name), type: q.type, rcode: q.rcode }));
      io.out(`${stableJson(json)}\n`);
    } else {
      io.out(
        `; <<>> podnet dig <<>> ${[name, typeArg, lookup ? `--from ${values.from}` : ''].filter(Boolean).join(' ')}\n`,
      );
      io.out(renderText(question, answer, server, lookup));
    }
    return answer.rcode === 'NOERROR' ? EXIT.ok : EXIT.negative;
  },
};
