import { connect, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import type { DnsAnswerer } from '../../src/dns/answerer.js';
import { DnsResponder } from '../../src/dns/responder.js';
import { silentLogger } from '../../src/lib/logger.js';
import { TEST_PORT_BASE } from '../helpers/instance.js';

const PORT = TEST_PORT_BASE + 53;

/** One query as DNS over TCP sends it: a two-byte length, then the message. */
function framed(id: number): Buffer {
  const msg = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `n${id}.example`, class: 'IN' }] });
  const length = Buffer.alloc(2);
  length.writeUInt16BE(msg.length);
  return Buffer.concat([length, msg]);
}

describe('DNS over TCP: a client that asks faster than it is answered', () => {
  it('is not taken apart further while 16 of its queries wait, and is again as they are answered, every query answered in order', async () => {
    // Answers held until the test lets them go, as a slow upstream would.
    const waiting: Array<() => void> = [];
    const answerer = {
      answer: (message: Buffer) =>
        new Promise<Buffer>((resolve) => waiting.push(() => resolve(dnsPacket.encode({ type: 'response', id: dnsPacket.decode(message).id, questions: dnsPacket.decode(message).questions })))),
    } as unknown as DnsAnswerer;
    const responder = new DnsResponder(answerer, '127.0.0.1', silentLogger, PORT);
    await responder.start();
    let client: Socket | undefined;
    try {
      client = connect(PORT, '127.0.0.1');
      await new Promise<void>((resolve) => client!.once('connect', () => resolve()));
      const answered: number[] = [];
      let got = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        while (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
          answered.push(dnsPacket.decode(got.subarray(2, 2 + got.readUInt16BE(0))).id!);
          got = got.subarray(2 + got.readUInt16BE(0));
        }
      });
      const serverSide = () => [...(responder as unknown as { connections: Set<Socket> }).connections][0]!;

      client.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => framed(i + 1))));
      await expect.poll(() => serverSide()?.isPaused(), { timeout: 2000 }).toBe(true);
      const second = Buffer.concat(Array.from({ length: 20 }, (_, i) => framed(i + 21)));
      client.write(second);
      // The second batch stays in the socket's own buffer (bounded by its high-water mark, the
      // kernel's beyond), not taken apart into queries that wait in the plugin's memory.
      await expect.poll(() => serverSide().readableLength, { timeout: 2000 }).toBe(second.length);
      expect(serverSide().isPaused()).toBe(true);

      // Answering lets it read again; every query gets its answer, in the order asked.
      while (answered.length < 40) {
        waiting.shift()?.();
        await new Promise((r) => setTimeout(r, 2));
      }
      expect(answered).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(serverSide().isPaused()).toBe(false);
      expect(serverSide().readableLength).toBe(0);
    } finally {
      client?.destroy();
      await responder.stop();
    }
  });
});
