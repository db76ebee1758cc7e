/**
 * Copies of a listening socket (bench/listener-copies.ts, the measurement of
 * bench/accept-per-turn.ts), on a real Unix socket with a real helper process: a busy server
 * accepts several new connections per event-loop turn, every connection is answered by the
 * one handler, none is lost while the copies are made, and closing them leaves no descriptor.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { copyListener } from '../../bench/listener-copies.js';

const path = `/tmp/tso-listener-copies-${process.pid}.sock`;
afterEach(() => rmSync(path, { force: true }));

/** Descriptors of this process that are the socket listening on `path` (copies share its inode). */
function descriptorsOf(socketPath: string): number {
  // Columns: Num RefCount Protocol Flags Type St Inode Path; a listener's Flags are 00010000
  // (its accepted connections carry its path too).
  const listener = readFileSync('/proc/net/unix', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).find((c) => c[7] === socketPath && c[3] === '00010000');
  if (!listener) return 0;
  const inode = listener[6];
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === `socket:[${inode}]`;
    } catch {
      return false; // closed while listed
    }
  }).length;
}

/** Another process opens `n` connections at once, sends one request on each, and prints each status. */
const CLIENT = `
const http = require('node:http');
const [path, n] = [process.argv[1], Number(process.argv[2])];
let done = 0;
const statuses = [];
for (let i = 0; i < n; i++) {
  const req = http.request({ socketPath: path, method: 'POST', path: '/Plugin.Activate', agent: false }, (res) => {
    res.resume();
    statuses.push(res.statusCode);
    if (++done === n) { console.log(JSON.stringify(statuses)); process.exit(0); }
  });
  req.end('{}');
}
`;

/**
 * Another process keeps 8 requests in flight for `ms`, each on a connection of its own, and
 * prints how many were answered and how many failed (a 2-s timeout: a connection nobody serves).
 */
const CHURN = `
const http = require('node:http');
const [path, ms] = [process.argv[1], Number(process.argv[2])];
let answered = 0, failed = 0, inFlight = 0;
const until = Date.now() + ms;
function one() {
  if (Date.now() > until) {
    if (inFlight === 0) { console.log(JSON.stringify({ answered, failed })); process.exit(0); }
    return;
  }
  inFlight++;
  const req = http.request({ socketPath: path, method: 'POST', path: '/Plugin.Activate', agent: false, timeout: 2000 }, (res) => {
    res.resume();
    res.on('end', () => { answered++; inFlight--; one(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => { failed++; inFlight--; one(); });
  req.end('{}');
}
for (let i = 0; i < 8; i++) one();
`;

/** An HTTP server on `path` answering every call with {}, and its copies, all closed by close(). */
async function serverWithCopies(): Promise<{ server: Server; copies: NetServer[]; copy(n: number): Promise<number>; close(): Promise<void> }> {
  rmSync(path, { force: true });
  const server = createServer((_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const copies: NetServer[] = [];
  return {
    server,
    copies,
    async copy(n) {
      const made = await copyListener(server, n, (conn) => server.emit('connection', conn));
      copies.push(...made);
      return made.length;
    },
    async close() {
      for (const c of copies.splice(0)) c.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('copies of a listening socket', () => {
  it('are made while connections keep arriving, and none of those is left unanswered', async () => {
    const socket = await serverWithCopies();
    try {
      const client = spawn(process.execPath, ['-e', CHURN, path, '3000'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      client.stdout.on('data', (d: Buffer) => (out += d));
      await new Promise((r) => setTimeout(r, 300)); // the client is opening connections by now
      // Ten rounds of copies, each a window in which a copy listens: a copy without its
      // handler from the start left one connection per copy unanswered.
      for (let round = 0; round < 10; round++) expect(await socket.copy(3)).toBe(3);
      expect(descriptorsOf(path)).toBe(31);
      const code = await new Promise<number | null>((resolve) => client.on('exit', resolve));
      expect(code).toBe(0);
      const { answered, failed } = JSON.parse(out) as { answered: number; failed: number };
      expect(failed).toBe(0);
      expect(answered).toBeGreaterThan(100);
    } finally {
      await socket.close();
    }
    expect(descriptorsOf(path)).toBe(0);
  }, 20_000);


  it('accept several connections per turn of a busy loop, all answered by the one handler, and close with the socket', async () => {
    const socket = await serverWithCopies();
    try {
      expect(await socket.copy(3)).toBe(3);
      expect(descriptorsOf(path)).toBe(4);

      let turn = 0;
      let busy = true;
      const turnsSeen: number[] = [];
      socket.server.on('connection', () => turnsSeen.push(turn));
      // Turns of 20 ms of work, as a loaded plugin's.
      const spin = () => {
        const until = performance.now() + 20;
        while (performance.now() < until);
        turn++;
        if (busy) setImmediate(spin);
      };
      setImmediate(spin);
      const n = 12;
      const client = spawn(process.execPath, ['-e', CLIENT, path, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      client.stdout.on('data', (d: Buffer) => (out += d));
      const code = await new Promise<number | null>((resolve) => client.on('exit', resolve));
      busy = false;
      expect(code).toBe(0);
      expect(JSON.parse(out)).toEqual(Array(n).fill(200));
      expect(turnsSeen).toHaveLength(n);
      // Four listeners: four a turn (3 turns for 12) when the connects land together; with one
      // listener it takes 12. Up to 6 allows for a client whose connects straddle turns.
      expect(new Set(turnsSeen).size).toBeLessThanOrEqual(6);
    } finally {
      await socket.close();
    }
    expect(descriptorsOf(path)).toBe(0);
  }, 20_000);
});
