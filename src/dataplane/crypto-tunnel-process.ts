import dgram from 'node:dgram';
import { directionKey, newSession, open, readHeader, ReplayWindow, seal } from './tunnel-packet.js';
import type { TunnelCommand, TunnelReply, TunnelStats, TunnelSettings } from './crypto-tunnel-protocol.js';

/**
 * The encrypted tunnel's packet loop, a child process of the plugin (started in the host's
 * network namespace, so that heavy traffic never delays the plugin's API, and so that a test
 * can start one per namespace). It ends when the plugin does (the IPC channel closes). Two
 * directions:
 *  - out: the kernel's VXLAN devices of encrypted networks send to PEER:innerPort; an iptables
 *    DNAT (tunnel-rules.ts) sends each peer's datagrams to a loopback socket of its own here,
 *    which seals them and sends them to PEER:encPort over the underlay;
 *  - in:  datagrams on VTEP:encPort from a known peer are opened, checked against replay, and
 *    handed to the kernel's VXLAN socket on 127.0.0.1:innerPort, which only loopback may reach.
 * Anything that fails a check is dropped and counted, never passed on.
 */
const config = JSON.parse(process.env.TS_OVERLAY_TUNNEL ?? '{}') as TunnelSettings;
const session = newSession();
let counter = 0n;
let keys = new Map<number, Buffer>();
let primary = 0;
const stats: TunnelStats = { sealed: 0, opened: 0, droppedUnknownPeer: 0, droppedMalformed: 0, droppedUnknownKey: 0, droppedForged: 0, droppedReplay: 0, droppedOldSession: 0, droppedNoKey: 0 };

interface Peer {
  readonly vtep: string;
  readonly relay: dgram.Socket;
  port: number;
  /** Keys for sealing to this peer, by cluster key id (our session is fixed for our lifetime). */
  readonly txKeys: Map<number, Buffer>;
  /** The peer's newest session seen, its keys by cluster key id, and its replay window. */
  rxSession: bigint;
  rxKeys: Map<number, Buffer>;
  window: ReplayWindow;
}
const peers = new Map<string, Peer>();

const underlay = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
const loopback = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });

underlay.on('message', (datagram, from) => {
  const peer = peers.get(from.address);
  if (!peer) return void stats.droppedUnknownPeer++;
  const header = readHeader(datagram);
  if (!header) return void stats.droppedMalformed++;
  const secret = keys.get(header.keyId);
  if (!secret) return void stats.droppedUnknownKey++;
  // A session older than the newest one seen is a restarted sender's past: a replay.
  if (header.session < peer.rxSession) return void stats.droppedOldSession++;
  const sameSession = header.session === peer.rxSession;
  let key = sameSession ? peer.rxKeys.get(header.keyId) : undefined;
  key ??= directionKey(secret, header.session, peer.vtep, config.vtep);
  const plaintext = open(key, datagram);
  if (!plaintext) return void stats.droppedForged++;
  if (!sameSession) {
    // Authenticated, from a newer session: the peer restarted; forget its old one.
    peer.rxSession = header.session;
    peer.rxKeys = new Map();
    peer.window = new ReplayWindow();
  }
  peer.rxKeys.set(header.keyId, key);
  if (!peer.window.accept(header.counter)) return void stats.droppedReplay++;
  stats.opened++;
  loopback.send(plaintext, config.innerPort, '127.0.0.1');
});

function sealTo(peer: Peer, plaintext: Buffer): void {
  const secret = keys.get(primary);
  if (!secret) return void stats.droppedNoKey++;
  let key = peer.txKeys.get(primary);
  if (!key) peer.txKeys.set(primary, (key = directionKey(secret, session, config.vtep, peer.vtep)));
  counter++;
  stats.sealed++;
  underlay.send(seal(key, { keyId: primary, session, counter }, plaintext), config.encPort, peer.vtep);
}

/** A loopback port per peer, the same across restarts (so the kernel's NAT entries stay right). */
async function bindRelay(vtep: string): Promise<{ relay: dgram.Socket; port: number }> {
  let port = config.relayPortBase + (hash(vtep) % config.relayPortSpan);
  for (let tries = 0; tries < 64; tries++, port = config.relayPortBase + ((port - config.relayPortBase + 1) % config.relayPortSpan)) {
    if ([...peers.values()].some((p) => p.port === port)) continue;
    const relay = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    const ok = await new Promise<boolean>((resolve) => {
      relay.once('error', () => resolve(false));
      relay.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { relay, port };
    relay.close();
  }
  throw new Error(`no free loopback port for peer ${vtep} in ${config.relayPortBase}-${config.relayPortBase + config.relayPortSpan - 1}`);
}

function hash(text: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(text)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h;
}

async function update(command: Extract<TunnelCommand, { type: 'update' }>): Promise<TunnelReply> {
  keys = new Map(command.keys.map((k) => [k.id, Buffer.from(k.secret, 'base64')]));
  primary = command.primary;
  for (const p of peers.values()) {
    for (const id of p.txKeys.keys()) if (!keys.has(id)) p.txKeys.delete(id);
    for (const id of p.rxKeys.keys()) if (!keys.has(id)) p.rxKeys.delete(id);
  }
  const wanted = new Set(command.peers.filter((v) => v !== config.vtep));
  for (const [vtep, p] of peers) {
    if (wanted.has(vtep)) continue;
    p.relay.close();
    peers.delete(vtep);
  }
  for (const vtep of wanted) {
    if (peers.has(vtep)) continue;
    const { relay, port } = await bindRelay(vtep);
    const peer: Peer = { vtep, relay, port, txKeys: new Map(), rxSession: 0n, rxKeys: new Map(), window: new ReplayWindow() };
    relay.on('message', (plaintext) => sealTo(peer, plaintext));
    peers.set(vtep, peer);
  }
  return { type: 'updated', ports: Object.fromEntries([...peers].map(([v, p]) => [v, p.port])) };
}

async function start(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    underlay.once('error', reject);
    underlay.bind(config.encPort, config.vtep, () => resolve());
  });
  await new Promise<void>((resolve) => loopback.bind(0, '127.0.0.1', () => resolve()));
}

const started = start();
started.catch((err: unknown) => {
  process.stderr.write(`ts-overlay tunnel: cannot listen on ${config.vtep}:${config.encPort}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
process.on('disconnect', () => process.exit(0));
process.on('message', (command: TunnelCommand) => {
  void (async () => {
    let reply: TunnelReply;
    try {
      await started;
      if (command.type === 'update') reply = await update(command);
      else reply = { type: 'stats', stats: { ...stats } };
    } catch (err) {
      reply = { type: 'error', message: err instanceof Error ? err.message : String(err) };
    }
    process.send!({ id: command.id, ...reply });
  })();
});
