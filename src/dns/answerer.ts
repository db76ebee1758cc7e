import dnsPacket, { type Answer, type DecodedPacket, type Question } from 'dns-packet';
import { type DnsObserver, noMetrics } from '../metrics/ports.js';
import type { Forwarder } from './forwarder.js';
import type { NameTable } from './name-table.js';

/**
 * One DNS message in, one out (or none): decoding, validation and encoding around the
 * NameTable's decision. No sockets here, so every byte sequence can be thrown at it in tests.
 *
 * Answers carry TTL 0: nobody on the way (the engine's embedded resolver, a stub in the
 * container) may keep a name after its container is gone; the responder answers from memory
 * in microseconds, so not caching costs nothing worth keeping.
 */
export const TTL = 0;
/** The size a UDP answer may have without EDNS (RFC 1035). */
const UDP_LIMIT = 512;

const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;

export class DnsAnswerer {
  constructor(
    private readonly table: NameTable,
    private readonly forwarder: Forwarder,
    private readonly metrics: DnsObserver = noMetrics,
  ) {}

  /**
   * The reply to `message` from `source`, or undefined when nothing should be sent (too short
   * to carry an ID, or itself a response: answering those would let anyone bounce traffic).
   */
  async answer(message: Buffer, source: string, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (message.length < 12) return undefined;
    const id = message.readUInt16BE(0);
    const flags = message.readUInt16BE(2);
    if (flags & QR) return undefined;
    const rd = flags & RD;
    if ((flags >> 11) & 0xf) return this.refuse(id, rd | RCODE.NOTIMP); // only standard queries

    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return this.refuse(id, rd | RCODE.FORMERR);
    }
    const question = query.questions?.[0];
    if (query.questions?.length !== 1 || !question || typeof question.name !== 'string') return this.refuse(id, rd | RCODE.FORMERR);
    if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY') return this.forward(message, id, rd, question, transport);

    const decision = this.table.decide(source, question.name, question.type);
    if (decision.kind !== 'forward') this.metrics.dnsAnswered(decision.kind === 'a' || decision.kind === 'ptr' ? 'name' : decision.kind);
    switch (decision.kind) {
      case 'forward':
        return this.forward(message, id, rd, question, transport);
      case 'nxdomain':
        return reply(id, rd | AA | RCODE.NXDOMAIN, question, [], transport);
      case 'nodata':
        return reply(id, rd | AA, question, [], transport);
      case 'a':
        return reply(id, rd | AA, question, decision.ips.map((ip) => ({ type: 'A', name: question.name, ttl: TTL, class: 'IN', data: ip })), transport);
      case 'ptr':
        return reply(id, rd | AA, question, decision.names.map((n) => ({ type: 'PTR', name: question.name, ttl: TTL, class: 'IN', data: n })), transport);
    }
  }

  private async forward(message: Buffer, id: number, rd: number, question: Question, transport: 'udp' | 'tcp'): Promise<Buffer> {
    const upstream = await this.forwarder.forward(message, transport);
    this.metrics.dnsAnswered(upstream ? 'forwarded' : 'servfail');
    return upstream ?? reply(id, rd | RCODE.SERVFAIL, question, [], transport);
  }

  private refuse(id: number, flags: number): Buffer {
    this.metrics.dnsAnswered('refused');
    return header(id, flags);
  }
}

function header(id: number, flags: number): Buffer {
  return dnsPacket.encode({ type: 'response', id, flags: flags | RA, questions: [], answers: [] });
}

/** A response; over UDP cut to 512 bytes with TC set, so the client asks again over TCP. */
function reply(id: number, flags: number, question: Question, answers: Answer[], transport: 'udp' | 'tcp'): Buffer {
  const packet = { type: 'response' as const, id, flags: flags | RA, questions: [question], answers };
  if (transport === 'udp' && dnsPacket.encodingLength(packet) > UDP_LIMIT) {
    const kept = [...answers];
    while (kept.length > 0 && dnsPacket.encodingLength({ ...packet, answers: kept }) > UDP_LIMIT) kept.pop();
    return dnsPacket.encode({ ...packet, flags: packet.flags | TC, answers: kept });
  }
  return dnsPacket.encode(packet);
}
