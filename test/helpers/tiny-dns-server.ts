/**
 * A DNS server of the tests' own, standing in for the "real upstream resolver" inside the lab
 * (the lab never sends a packet to the internet): `tsx tiny-dns-server.ts ADDR NAME=IP...`
 * answers A queries for the given names on UDP port 53 of ADDR and NXDOMAIN for the rest.
 * Prints "listening" once bound. Run inside the lab's underlay namespace.
 */
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';

const [addr, ...pairs] = process.argv.slice(2);
const records = new Map(pairs.map((p) => p.split('=') as [string, string]));
const socket = createSocket('udp4');
socket.on('message', (msg, rinfo) => {
  try {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    const ip = records.get(question.name.toLowerCase());
    const answers = ip && question.type === 'A' ? [{ type: 'A' as const, name: question.name, ttl: 30, data: ip }] : [];
    const rcode = ip ? 0 : 3;
    socket.send(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | rcode, questions: [question], answers }), rinfo.port, rinfo.address);
  } catch {
    // not a query: ignore it
  }
});
socket.bind(53, addr, () => console.log('listening'));
