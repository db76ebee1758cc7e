import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { DnsAnswerer, RCODE } from '../../src/dns/answerer.js';
import { Forwarder, upstreamsFromResolvConf } from '../../src/dns/forwarder.js';
import { ipOfReverseName, NameTable } from '../../src/dns/name-table.js';
import { ResolverRoutes } from '../../src/driver/resolver-routes.js';
import { PluginMetrics } from '../../src/metrics/plugin-metrics.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';
import type { NameRecord } from '../../src/store/records.js';

/** Two networks, red 10.1.0.0/24 and blue 10.2.0.0/24; a shared alias on red across two hosts. */
function table(): NameTable {
  const t = new NameTable();
  const rec = (endpoint: string, network: string, ip: string, names: string[], node = 'h1'): NameRecord => ({ endpoint, network, container: `c-${endpoint}`, names, ip, node });
  t.load(
    [{ id: 'red', subnet: '10.1.0.0/24' }, { id: 'blue', subnet: '10.2.0.0/24' }],
    [
      rec('e1', 'red', '10.1.0.2', ['test1', 'web', '0123456789ab']),
      rec('e2', 'red', '10.1.0.3', ['Test2', 'web', 'db.example.com'], 'h2'),
      rec('e3', 'blue', '10.2.0.2', ['blue1']),
    ],
  );
  return t;
}

describe('NameTable: who gets which answer', () => {
  it('answers names, aliases and short IDs of the asker\'s own network, in any case, with or without the root dot', () => {
    const t = table();
    expect(t.decide('10.1.0.9', 'test1', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.2'] });
    expect(t.decide('10.1.0.9', 'TEST2.', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.3'] });
    expect(t.decide('10.1.0.9', '0123456789ab', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.2'] });
    expect(t.decide('10.1.0.9', 'db.example.com', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.3'] });
  });

  it('gives every address of a shared alias, starting one further each time (round robin)', () => {
    const t = table();
    const first = t.decide('10.1.0.9', 'web', 'A');
    const second = t.decide('10.1.0.9', 'web', 'A');
    expect(first).toEqual({ kind: 'a', ips: ['10.1.0.2', '10.1.0.3'] });
    expect(second).toEqual({ kind: 'a', ips: ['10.1.0.3', '10.1.0.2'] });
  });

  it('answers NXDOMAIN for a name of another network, and forwards a name nobody has', () => {
    const t = table();
    expect(t.decide('10.2.0.7', 'test1', 'A')).toEqual({ kind: 'nxdomain' });
    expect(t.decide('10.2.0.7', 'web', 'A')).toEqual({ kind: 'nxdomain' });
    expect(t.decide('10.1.0.7', 'blue1', 'A')).toEqual({ kind: 'nxdomain' });
    expect(t.decide('10.2.0.7', 'nobody', 'A')).toEqual({ kind: 'forward' });
    expect(t.decide('10.2.0.7', 'example.org', 'A')).toEqual({ kind: 'forward' });
  });

  it('forwards a dotted alias of another network: it must not hide the real name from everyone else', () => {
    expect(table().decide('10.2.0.7', 'db.example.com', 'A')).toEqual({ kind: 'forward' });
  });

  it('only forwards for askers outside every ts-overlay subnet (docker0 containers, the host)', () => {
    const t = table();
    expect(t.decide('172.17.0.2', 'test1', 'A')).toEqual({ kind: 'forward' });
    expect(t.decide('127.0.0.1', '2.0.1.10.in-addr.arpa', 'PTR')).toEqual({ kind: 'forward' });
    expect(t.decide('not an address', 'test1', 'A')).toEqual({ kind: 'forward' });
  });

  it('answers NODATA for other record types of its names, so nothing is asked upstream', () => {
    expect(table().decide('10.1.0.9', 'test1', 'AAAA')).toEqual({ kind: 'nodata' });
    expect(table().decide('10.1.0.9', 'test1', 'MX')).toEqual({ kind: 'nodata' });
  });

  it('answers reverse lookups of its own network with the container name, NXDOMAIN for other ts-overlay addresses', () => {
    const t = table();
    expect(t.decide('10.1.0.9', '2.0.1.10.in-addr.arpa', 'PTR')).toEqual({ kind: 'ptr', names: ['test1'] });
    expect(t.decide('10.1.0.9', '3.0.1.10.IN-ADDR.ARPA.', 'PTR')).toEqual({ kind: 'ptr', names: ['test2'] });
    expect(t.decide('10.1.0.9', '99.0.1.10.in-addr.arpa', 'PTR')).toEqual({ kind: 'nxdomain' }); // free address of the asker's network
    expect(t.decide('10.1.0.9', '2.0.2.10.in-addr.arpa', 'PTR')).toEqual({ kind: 'nxdomain' }); // blue's
    expect(t.decide('10.1.0.9', '8.8.8.8.in-addr.arpa', 'PTR')).toEqual({ kind: 'forward' });
    expect(t.decide('10.1.0.9', '1.10.in-addr.arpa', 'PTR')).toEqual({ kind: 'forward' });
    expect(ipOfReverseName('4.0.0.10.in-addr.arpa.')).toBe('10.0.0.4');
    expect(ipOfReverseName('04.0.0.10.in-addr.arpa')).toBeUndefined();
    expect(ipOfReverseName('256.0.0.10.in-addr.arpa')).toBeUndefined();
  });

  it('forgets a removed container at once; a name shared with another container stays for that one', () => {
    const t = table();
    t.remove('red', 'e1');
    expect(t.decide('10.1.0.9', 'test1', 'A')).toEqual({ kind: 'forward' });
    expect(t.decide('10.1.0.9', 'web', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.3'] });
    expect(t.decide('10.1.0.9', '2.0.1.10.in-addr.arpa', 'PTR')).toEqual({ kind: 'nxdomain' });
  });

  it('replaces a record that changes (network connect --alias), and holds records until their network arrives', () => {
    const t = table();
    t.put({ endpoint: 'e1', network: 'red', container: 'c', names: ['test1', 'api'], ip: '10.1.0.2', node: 'h1' });
    expect(t.decide('10.1.0.9', 'web', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.3'] });
    expect(t.decide('10.1.0.9', 'api', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.2'] });
    t.put({ endpoint: 'g1', network: 'green', container: 'c', names: ['green1'], ip: '10.3.0.2', node: 'h1' });
    expect(t.decide('10.3.0.9', 'green1', 'A')).toEqual({ kind: 'forward' });
    t.setNetwork('green', '10.3.0.0/24');
    expect(t.decide('10.3.0.9', 'green1', 'A')).toEqual({ kind: 'a', ips: ['10.3.0.2'] });
    t.removeNetwork('green');
    expect(t.decide('10.3.0.9', 'green1', 'A')).toEqual({ kind: 'forward' });
  });

  it('ignores records written by hand that make no sense', () => {
    const t = table();
    t.put({ endpoint: 'x', network: 'red', container: 'c', names: ['bad'], ip: 'nope', node: 'h1' });
    t.put({ endpoint: 'y', network: 'red', container: 'c', names: 'oops' as unknown as string[], ip: '10.1.0.8', node: 'h1' });
    t.put({ endpoint: 'z', network: 'red', container: 'c', names: ['', 'a..b', 'x'.repeat(64), 'with space', 'ok'], ip: '10.1.0.9', node: 'h1' });
    expect(t.decide('10.1.0.5', 'bad', 'A')).toEqual({ kind: 'forward' });
    expect(t.decide('10.1.0.5', 'with space', 'A')).toEqual({ kind: 'forward' });
    expect(t.decide('10.1.0.5', 'ok', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.9'] });
  });

  it('takes in values of the wrong shape without throwing: null, names that are not strings, fields missing', () => {
    const t = table();
    const odd = (v: unknown) => v as NameRecord;
    expect(() => t.put(odd(null))).not.toThrow();
    expect(() => t.put(odd(7))).not.toThrow();
    expect(() => t.put(odd({ endpoint: 'w', network: 'red', ip: 42, names: ['w'] }))).not.toThrow();
    expect(() => t.put(odd({ endpoint: 'v', network: 'red', ip: '10.1.0.7', names: [null, 3, { a: 1 }, 'fine'] }))).not.toThrow();
    expect(() => t.load([{ id: 'red', subnet: '10.1.0.0/24' }], [odd(null), odd({ ip: '10.1.0.6' })])).not.toThrow();
    // What makes sense in them still counts; the rest is ignored.
    t.put(odd({ endpoint: 'v', network: 'red', container: 'c', node: 'h1', ip: '10.1.0.7', names: [null, 3, 'fine'] }));
    expect(t.decide('10.1.0.5', 'fine', 'A')).toEqual({ kind: 'a', ips: ['10.1.0.7'] });
  });
});

/** A forwarder whose upstream is a UDP server on loopback answering every query with one A record. */
async function withUpstream<T>(fn: (forwarder: Forwarder) => Promise<T>): Promise<T> {
  const server = createSocket('udp4');
  server.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const answer = dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.80' }] });
    server.send(answer, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  try {
    return await fn(new Forwarder([{ host: '127.0.0.1', port: server.address().port }], 500));
  } finally {
    server.close();
  }
}

const query = (name: string, type: 'A' | 'AAAA' | 'PTR' = 'A', id = 4242) => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
const rcodeOf = (reply: Buffer) => reply.readUInt16BE(2) & 0xf;

describe('DnsAnswerer: the wire', () => {
  it('answers its names with A records, TTL 0, authoritative, and the query\'s ID', async () => {
    const answerer = new DnsAnswerer(table(), new Forwarder([]));
    const reply = dnsPacket.decode((await answerer.answer(query('web'), '10.1.0.9', 'udp'))!);
    expect(reply.id).toBe(4242);
    expect(reply.flag_aa).toBe(true);
    expect(reply.answers?.map((a) => [a.type, 'data' in a ? a.data : undefined, 'ttl' in a ? a.ttl : undefined])).toEqual([['A', '10.1.0.2', 0], ['A', '10.1.0.3', 0]]);
    const ptr = dnsPacket.decode((await answerer.answer(query('2.0.1.10.in-addr.arpa', 'PTR'), '10.1.0.9', 'tcp'))!);
    expect(ptr.answers?.map((a) => ('data' in a ? a.data : undefined))).toEqual(['test1']);
    expect(rcodeOf((await answerer.answer(query('test1'), '10.2.0.9', 'udp'))!)).toBe(RCODE.NXDOMAIN);
    const nodata = (await answerer.answer(query('test1', 'AAAA'), '10.1.0.9', 'udp'))!;
    expect([rcodeOf(nodata), dnsPacket.decode(nodata).answers?.length]).toEqual([RCODE.NOERROR, 0]);
  });

  it('forwards other names to the upstream and relays its answer; SERVFAIL when no upstream answers', async () => {
    await withUpstream(async (forwarder) => {
      const answerer = new DnsAnswerer(table(), forwarder);
      const reply = dnsPacket.decode((await answerer.answer(query('example.org', 'A', 7), '10.1.0.9', 'udp'))!);
      expect(reply.id).toBe(7);
      expect(reply.answers?.map((a) => ('data' in a ? a.data : undefined))).toEqual(['192.0.2.80']);
      // docker0 containers ask for a ts-overlay name: forwarded, not answered.
      const outsider = dnsPacket.decode((await answerer.answer(query('test1'), '172.17.0.2', 'udp'))!);
      expect(outsider.answers?.map((a) => ('data' in a ? a.data : undefined))).toEqual(['192.0.2.80']);
    });
    const dead = new DnsAnswerer(table(), new Forwarder([{ host: '127.0.0.1', port: 9 }], 300));
    expect(rcodeOf((await dead.answer(query('example.org'), '10.1.0.9', 'udp'))!)).toBe(RCODE.SERVFAIL);
  });

  it('counts its answers by kind for /metrics', async () => {
    const metrics = new PluginMetrics();
    const answerer = new DnsAnswerer(table(), new Forwarder([]), metrics);
    await answerer.answer(query('test1'), '10.1.0.9', 'udp');
    await answerer.answer(query('test1'), '10.2.0.9', 'udp');
    await answerer.answer(query('elsewhere.example'), '10.2.0.9', 'udp'); // no upstream: servfail
    await answerer.answer(query('test1').subarray(0, 14), '10.2.0.9', 'udp');
    const samples = parseExposition(await metrics.exposition());
    const count = (answer: string) => valueOf(samples, 'ts_overlay_dns_answers_total', { answer });
    expect([count('name'), count('nxdomain'), count('servfail'), count('refused'), count('forwarded'), count('nodata')]).toEqual([1, 1, 1, 1, 0, 0]);
  });

  it('truncates a UDP answer above 512 bytes (TC set) and gives all of it over TCP', async () => {
    const t = new NameTable();
    t.load([{ id: 'n', subnet: '10.9.0.0/16' }], Array.from({ length: 60 }, (_, i) => ({ endpoint: `e${i}`, network: 'n', container: `c${i}`, names: [`c${i}`, 'many'], ip: `10.9.1.${i + 1}`, node: 'h1' })));
    const answerer = new DnsAnswerer(t, new Forwarder([]));
    const udp = (await answerer.answer(query('many'), '10.9.0.1', 'udp'))!;
    expect(udp.length).toBeLessThanOrEqual(512);
    expect(dnsPacket.decode(udp).flag_tc).toBe(true);
    expect(dnsPacket.decode((await answerer.answer(query('many'), '10.9.0.1', 'tcp'))!).answers).toHaveLength(60);
  });

  it('refuses what is not a standard query, and never answers a response', async () => {
    const answerer = new DnsAnswerer(table(), new Forwarder([]));
    const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'test1' }], answers: [] });
    expect(await answerer.answer(response, '10.1.0.9', 'udp')).toBeUndefined();
    expect(await answerer.answer(Buffer.from([1, 2, 3]), '10.1.0.9', 'udp')).toBeUndefined();
    const notify = Buffer.from(query('test1'));
    notify.writeUInt16BE((4 << 11) | 0x0100, 2); // opcode NOTIFY
    expect(rcodeOf((await answerer.answer(notify, '10.1.0.9', 'udp'))!)).toBe(RCODE.NOTIMP);
    const two = dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'test1' }, { type: 'A', name: 'test2' }] });
    expect(rcodeOf((await answerer.answer(two, '10.1.0.9', 'udp'))!)).toBe(RCODE.FORMERR);
    const cut = query('test1').subarray(0, 20);
    expect(rcodeOf((await answerer.answer(cut, '10.1.0.9', 'udp'))!)).toBe(RCODE.FORMERR);
  });

  it('survives garbage: random bytes and mutated queries get an answer or nothing, never an exception', async () => {
    const answerer = new DnsAnswerer(table(), new Forwarder([]));
    const base = query('test1');
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 600 }),
          fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
            const b = Uint8Array.from(base);
            for (const [at, v] of flips) b[at] = v;
            return b;
          }),
        ),
        fc.constantFrom('10.1.0.9', '10.2.0.9', '172.17.0.2'),
        async (bytes, source) => {
          const reply = await answerer.answer(Buffer.from(bytes), source, 'udp');
          if (reply) {
            answered++;
            expect(reply.readUInt16BE(0)).toBe(Buffer.from(bytes).readUInt16BE(0));
            expect(() => dnsPacket.decode(reply)).not.toThrow();
          }
        },
      ),
      { numRuns: 3000, seed: 7 },
    );
    expect(answered).toBeGreaterThan(100);
  });
});

describe('DNS settings', () => {
  it('reads upstreams from resolv.conf, without the responder itself and without duplicates', () => {
    const text = 'search example\nnameserver 169.254.53.53\nnameserver 192.0.2.53\n# nameserver 192.0.2.99\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver junk\n';
    expect(upstreamsFromResolvConf(text, '169.254.53.53')).toEqual([{ host: '192.0.2.53', port: 53 }, { host: 'fe80::1', port: 53 }]);
  });

  it('takes --dns, --dns-addr and --dns-upstream, refusing what cannot work', () => {
    expect(loadConfig([], {}).dns).toEqual({ addr: '169.254.53.53', upstream: undefined });
    expect(loadConfig(['--dns', 'false'], {}).dns).toBeUndefined();
    expect(loadConfig(['--dns-upstream', '192.0.2.53, 192.0.2.54:5353,[2001:db8::1]:53'], {}).dns?.upstream).toEqual([
      { host: '192.0.2.53', port: 53 }, { host: '192.0.2.54', port: 5353 }, { host: '2001:db8::1', port: 53 },
    ]);
    expect(loadConfig([], { TS_OVERLAY_DNS_ADDR: '169.254.0.53' }).dns?.addr).toBe('169.254.0.53');
    expect(() => loadConfig(['--dns-addr', '10.0.0.300'], {})).toThrow(/--dns-addr/);
    expect(() => loadConfig(['--dns-addr', '127.0.0.53'], {})).toThrow(/cannot be reached from containers/);
    expect(() => loadConfig(['--dns-upstream', 'resolver.example'], {})).toThrow(/--dns-upstream/);
    expect(() => loadConfig(['--dns-upstream', '169.254.53.53'], {})).toThrow(/responder itself/);
    expect(() => loadConfig(['--dns', 'yes'], {})).toThrow(/true or false/);
  });
});

describe('ResolverRoutes: one route per container', () => {
  it('gives the route to the first ts-overlay endpoint of a sandbox only, and again once that one left', () => {
    const r = new ResolverRoutes();
    expect(r.claim('/sbx/a', 'e1')).toBe(true);
    expect(r.claim('/sbx/a', 'e1')).toBe(true); // a repeated Join
    expect(r.claim('/sbx/a', 'e2')).toBe(false); // second network of the same container
    expect(r.claim('/sbx/b', 'e3')).toBe(true);
    r.release('e1');
    expect(r.claim('/sbx/a', 'e4')).toBe(true);
  });

  it('learns from the engine after a restart that a running container has the route', () => {
    const r = new ResolverRoutes();
    r.learn('/sbx/a', ['e1', 'e2']);
    expect(r.claim('/sbx/a', 'e5')).toBe(false);
    r.learn('/sbx/b', []);
    expect(r.claim('/sbx/b', 'e6')).toBe(true);
  });
});
