import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, isIP } from 'node:net';
import type { Upstream } from '../config/config.js';

/**
 * Sends queries that are not ts-overlay's to the host's real resolvers and hands back their
 * raw answer. Each UDP query uses a socket of its own (a fresh random source port, and a reply
 * is accepted only from the server it was sent to and only with the query's ID); servers are
 * tried in order, each for at most `timeoutMs`. TCP queries go upstream over TCP, so a
 * truncated UDP answer can be retried in full.
 */
export class Forwarder {
  constructor(
    readonly upstreams: readonly Upstream[],
    private readonly timeoutMs = 2000,
  ) {}

  /** The first answer of any upstream, or undefined when none answered in time. */
  async forward(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    for (const upstream of this.upstreams) {
      const answer = await (transport === 'udp' ? this.overUdp(query, upstream) : this.overTcp(query, upstream)).catch(() => undefined);
      if (answer) return answer;
    }
    return undefined;
  }

  private overUdp(query: Buffer, upstream: Upstream): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = createSocket(isIP(upstream.host) === 6 ? 'udp6' : 'udp4');
      let settled = false;
      const done = (answer: Buffer | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.close();
        resolve(answer);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      // A refused port (ICMP unreachable on a connected socket) moves on at once.
      socket.on('error', () => done(undefined));
      socket.on('message', (msg) => {
        if (msg.length >= 12 && msg.readUInt16BE(0) === query.readUInt16BE(0)) done(msg);
      });
      socket.connect(upstream.port, upstream.host, () => socket.send(query));
    });
  }

  private overTcp(query: Buffer, upstream: Upstream): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = connect({ host: upstream.host, port: upstream.port });
      let received = Buffer.alloc(0);
      let settled = false;
      const done = (answer: Buffer | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      socket.on('error', () => done(undefined));
      socket.on('connect', () => {
        const length = Buffer.alloc(2);
        length.writeUInt16BE(query.length);
        socket.write(Buffer.concat([length, query]));
      });
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) done(received.subarray(2, 2 + received.readUInt16BE(0)));
      });
      socket.on('end', () => done(undefined));
    });
  }
}

/**
 * The host's resolvers, from resolv.conf text: every `nameserver` line except the responder's
 * own address (the host itself may be pointed at it). Loopback servers (systemd-resolved's
 * 127.0.0.53) are fine: queries are forwarded from the host, not from a container.
 */
export function upstreamsFromResolvConf(text: string, ownAddr: string): Upstream[] {
  const servers: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1]!.replace(/%.*$/, ''); // a zone index (fe80::1%eth0) cannot be used by connect()
    if (!isIP(host) || host === ownAddr) continue;
    if (!servers.some((s) => s.host === host)) servers.push({ host, port: 53 });
  }
  return servers;
}

export function hostUpstreams(ownAddr: string, path = '/etc/resolv.conf'): Upstream[] {
  try {
    return upstreamsFromResolvConf(readFileSync(path, 'utf8'), ownAddr);
  } catch {
    return [];
  }
}
