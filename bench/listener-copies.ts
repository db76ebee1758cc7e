import { spawn } from 'node:child_process';
import type { Server, Socket } from 'node:net';

/**
 * Copies of a listening socket, each a listener of its own, so that a busy node server takes
 * new connections several at a time: libuv (1.45 on, node 20) accepts one connection per
 * listener per turn of the event loop ("unix: don't accept() connections in a loop"), and each
 * copy adds one a turn (`npx tsx bench/accept-per-turn.ts CONNECTIONS TURN_MS COPIES`). Tried in
 * the plugin's API socket and not taken (docs/performance-notes.md, "Copies of the listening
 * socket"); kept for the measurement.
 *
 * Node cannot duplicate a descriptor, but it can pass a listening server to a child process,
 * which receives it as a descriptor of its own. The child made here sends each server straight
 * back, which gives this process one more descriptor of the same socket, and closes its own.
 * It does both in the tick it received the server, before its event loop could accept a
 * connection on it; and it is given the next server only once the last one came back, so it
 * never has two to send (a second would wait for the first's acknowledgement, by which time
 * its descriptor would be closed). A copy listens as it arrives here, so it gets its
 * connection handler in that same tick: one without would take connections and leave them
 * unanswered (the first version lost one connection per copy that way).
 */
const CHILD = `
process.on('message', (msg, server) => {
  if (msg !== 'copy' || !server) return;
  process.send('copy', server);
  server.close();
});
`;

/** How long one round trip to the child may take before the copying stops with what it has. */
const ROUND_TRIP_MS = 5000;

/**
 * `copies` more listeners on `server`'s socket, each passing its connections to `onConnection`
 * from the moment it exists (a copy listens as it arrives: one without a handler would take
 * connections and leave them unanswered).
 */
export async function copyListener(server: Server, copies: number, onConnection: (conn: Socket) => void): Promise<Server[]> {
  if (copies <= 0) return [];
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  // One waiter at a time: the server that comes back, or why none will.
  let waiter: { resolve: (s: Server) => void; reject: (e: Error) => void } | undefined;
  const fail = (why: string) => waiter?.reject(new Error(`copying the listening socket: ${why}`));
  child.on('error', (err) => fail(err.message));
  child.on('exit', (code, signal) => fail(`the helper process ended (${signal ?? code})`));
  child.on('message', (_msg, handle) => {
    if (!handle) return fail('the helper sent no socket back');
    // In the tick the copy started listening, before the loop can accept on it.
    (handle as Server).on('connection', onConnection);
    waiter?.resolve(handle as Server);
  });
  const made: Server[] = [];
  try {
    for (let i = 0; i < copies; i++) {
      const back = new Promise<Server>((resolve, reject) => (waiter = { resolve, reject }));
      const timer = setTimeout(() => fail(`no copy came back within ${ROUND_TRIP_MS} ms`), ROUND_TRIP_MS).unref();
      child.send('copy', server);
      try {
        made.push(await back);
      } finally {
        clearTimeout(timer);
      }
    }
    return made;
  } catch (err) {
    for (const s of made) s.close();
    throw err;
  } finally {
    waiter = undefined;
    if (child.connected) child.disconnect();
    child.kill();
  }
}
