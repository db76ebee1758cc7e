import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { DnsAnswerer } from './answerer.js';

/** Bounds that keep a flood or a slow client from holding the responder's memory. */
const MAX_TCP_CONNECTIONS = 256;
const TCP_IDLE_MS = 10_000;
const MAX_UDP_IN_FLIGHT = 4096;
/** Queries of one TCP connection waiting for their answer before it is read no further (backpressure). */
const MAX_TCP_PENDING = 16;

/**
 * The DNS responder's sockets: UDP and TCP port 53 on one address only (never 0.0.0.0: a host
 * resolver may hold port 53 on other addresses). Every message goes to the answerer; nothing a
 * client sends can end the process: errors are caught per message and per connection.
 */
export class DnsResponder {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private inFlight = 0;
  private readonly connections = new Set<Socket>();

  constructor(
    private readonly answerer: DnsAnswerer,
    private readonly addr: string,
    private readonly log: Logger,
    private readonly port = 53,
  ) {}

  async start(): Promise<void> {
    const udp = createSocket({ type: 'udp4' });
    udp.on('message', (msg, rinfo) => void this.onDatagram(udp, msg, rinfo.address, rinfo.port));
    udp.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'DNS UDP socket error'));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.port, this.addr, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;

    const tcp = createServer((socket) => this.onConnection(socket));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    tcp.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'DNS TCP server error'));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, this.addr, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    this.tcp = tcp;
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    this.udp = undefined;
    this.tcp = undefined;
  }

  private async onDatagram(udp: UdpSocket, msg: Buffer, address: string, port: number): Promise<void> {
    if (this.inFlight >= MAX_UDP_IN_FLIGHT) return; // the client retries; better than running out of memory
    this.inFlight++;
    try {
      const reply = await this.answerer.answer(msg, address, 'udp');
      if (reply && this.udp === udp) udp.send(reply, port, address);
    } catch (err) {
      this.log.debug({ err: errorMessage(err), from: address }, 'DNS query dropped');
    } finally {
      this.inFlight--;
    }
  }

  /** RFC 1035 4.2.2: each message with a two-byte length in front; several per connection. */
  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    const source = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    let buffered = Buffer.alloc(0);
    let chain = Promise.resolve();
    let pending = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const message = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + message.length);
        // A client that sends faster than it is answered (names forwarded to a slow upstream)
        // is read no further until its queue drains: its queries would otherwise pile up here.
        if (++pending >= MAX_TCP_PENDING) socket.pause();
        // Answers in the order asked, one at a time per connection.
        chain = chain.then(async () => {
          if (socket.destroyed) return;
          try {
            const reply = await this.answerer.answer(Buffer.from(message), source, 'tcp');
            if (!reply) {
              socket.destroy();
              return;
            }
            const length = Buffer.alloc(2);
            length.writeUInt16BE(reply.length);
            if (!socket.destroyed) socket.write(Buffer.concat([length, reply]));
          } catch (err) {
            this.log.debug({ err: errorMessage(err), from: source }, 'DNS query over TCP dropped');
            socket.destroy();
          } finally {
            if (--pending < MAX_TCP_PENDING && socket.isPaused() && !socket.destroyed) socket.resume();
          }
        });
      }
    });
  }
}
