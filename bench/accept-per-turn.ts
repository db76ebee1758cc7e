/**
 * How many new connections a busy node server accepts per turn of its event loop, with and
 * without copies of its listening socket (bench/listener-copies.ts). The plugin's API
 * server is a node server on a Unix socket; the control-plane benchmark's slowest calls are
 * often the ones that opened a connection while the plugin was busy. Another process opens
 * CONNECTIONS (default 40) connections at once to a server whose loop turns each take TURN_MS
 * (default 2) of work and that listens on 1 + COPIES descriptors of its socket (default 0), and
 * this reports in how many turns, and how many ms from the first to the last, they were accepted:
 *   npx tsx bench/accept-per-turn.ts [CONNECTIONS] [TURN_MS] [COPIES]
 * (Only this machine's loopback: a socket under /tmp.)
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { copyListener } from './listener-copies.js';

/** The client: another process, so that its connects do not wait for the busy loop. */
const CLIENT = `
const net = require('node:net');
const [path, n] = [process.argv[1], Number(process.argv[2])];
const sockets = Array.from({ length: n }, () => net.connect(path));
process.on('disconnect', () => process.exit(0));
`;

async function main(): Promise<void> {
  const [connections, turnMs, copies] = [Number(process.argv[2] ?? 40), Number(process.argv[3] ?? 2), Number(process.argv[4] ?? 0)];
  if (!(connections >= 1) || !(turnMs >= 0) || !(copies >= 0)) throw new Error('usage: npx tsx bench/accept-per-turn.ts [CONNECTIONS >= 1] [TURN_MS >= 0] [COPIES >= 0]');
  const path = `/tmp/tso-accept-per-turn-${process.pid}.sock`;
  rmSync(path, { force: true });
  let turn = 0;
  let busy = true;
  const accepted: Array<{ ms: number; turn: number }> = [];
  const onConnection = (socket: net.Socket) => {
    accepted.push({ ms: performance.now(), turn });
    socket.resume();
  };
  const server = net.createServer(onConnection);
  await new Promise<void>((r) => server.listen(path, r));
  const copied = await copyListener(server, copies, onConnection);
  // Turns of work: each an immediate that spins for turnMs, as a loop kept busy by calls would.
  const spin = () => {
    const until = performance.now() + turnMs;
    while (performance.now() < until);
    turn++;
    if (busy) setImmediate(spin);
  };
  setImmediate(spin);
  const client = spawn(process.execPath, ['-e', CLIENT, path, String(connections)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const deadline = performance.now() + 10_000;
  while (accepted.length < connections && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  busy = false;
  client.disconnect();
  for (const c of copied) c.close();
  server.close();
  rmSync(path, { force: true });
  if (accepted.length < connections) throw new Error(`only ${accepted.length} of ${connections} connections accepted within 10 s`);
  const turnsSeen = new Set(accepted.map((a) => a.turn)).size;
  const span = accepted.at(-1)!.ms - accepted[0]!.ms;
  console.log(`node ${process.version}, libuv ${process.versions.uv}: ${connections} connections opened at once by another process to a server whose loop turns take ${turnMs} ms, listening on ${1 + copied.length} descriptor(s) of its socket`);
  console.log(`accepted in ${turnsSeen} different turns (${(connections / turnsSeen).toFixed(2)} a turn), ${span.toFixed(1)} ms from the first to the last`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
