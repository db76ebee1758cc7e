/**
 * How many new connections a busy node server accepts per turn of its event loop. The plugin's
 * API server is a node server on a Unix socket; the control-plane benchmark's slowest calls are
 * often the ones that opened a connection while the plugin was busy. This opens CONNECTIONS
 * (default 40) connections at once to a server whose loop turns each take TURN_MS (default 2) of
 * work, and reports when each was accepted, in turns and in ms:
 *   npx tsx bench/accept-per-turn.ts [CONNECTIONS] [TURN_MS]
 * (Only this machine's loopback: a socket under /tmp.)
 */
import { rmSync } from 'node:fs';
import net from 'node:net';

async function main(): Promise<void> {
  const [connections, turnMs] = [Number(process.argv[2] ?? 40), Number(process.argv[3] ?? 2)];
  if (!(connections >= 1) || !(turnMs >= 0)) throw new Error('usage: npx tsx bench/accept-per-turn.ts [CONNECTIONS >= 1] [TURN_MS >= 0]');
  const path = `/tmp/tso-accept-per-turn-${process.pid}.sock`;
  rmSync(path, { force: true });
  let turn = 0;
  let busy = true;
  const accepted: Array<{ ms: number; turn: number }> = [];
  let started = 0;
  const server = net.createServer((socket) => {
    accepted.push({ ms: performance.now() - started, turn });
    socket.resume();
  });
  await new Promise<void>((r) => server.listen(path, r));
  // Turns of work: each an immediate that spins for turnMs, as a loop kept busy by calls would.
  const spin = () => {
    const until = performance.now() + turnMs;
    while (performance.now() < until);
    turn++;
    if (busy) setImmediate(spin);
  };
  started = performance.now();
  setImmediate(spin);
  const clients = Array.from({ length: connections }, () => net.connect(path));
  const deadline = performance.now() + 10_000;
  while (accepted.length < connections && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  busy = false;
  clients.forEach((c) => c.destroy());
  server.close();
  rmSync(path, { force: true });
  if (accepted.length < connections) throw new Error(`only ${accepted.length} of ${connections} connections accepted within 10 s`);
  const turnsSeen = new Set(accepted.map((a) => a.turn)).size;
  const last = accepted.at(-1)!;
  console.log(`node ${process.version}, libuv ${process.versions.uv}: ${connections} connections opened at once to a server whose loop turns take ${turnMs} ms`);
  console.log(`accepted in ${turnsSeen} different turns (${(connections / turnsSeen).toFixed(2)} a turn); the first after ${accepted[0]!.ms.toFixed(1)} ms, the last after ${last.ms.toFixed(1)} ms (turn ${last.turn})`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
