import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PluginSocket } from '../../src/protocol/plugin-socket.js';

const dir = mkdtempSync(join(tmpdir(), 'tso-socket-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** POSTs `body` to `path` on the socket; resolves with the answer's body. */
function post(socketPath: string, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('PluginSocket', () => {
  it('accepts calls before the API exists and hands them to it in arrival order, bodies intact', async () => {
    const path = join(dir, 'early.sock');
    writeFileSync(path, 'left by a dead plugin');
    const socket = await PluginSocket.open(path);
    try {
      expect(statSync(path).isSocket()).toBe(true);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      // As fastify's own servers: node's default would drop the engine's idle connections after 5 s.
      expect([socket.server.keepAliveTimeout, socket.server.requestTimeout]).toEqual([72_000, 0]);
      const answered: string[] = [];
      const calls = ['first', 'second', 'third'].map((b) => post(path, `/${b}`, `{"n":"${b}"}`).then((a) => (answered.push(a), a)));
      await new Promise((r) => setTimeout(r, 100));
      expect(answered).toEqual([]); // no API yet: they wait
      const seen: string[] = [];
      socket.serve((req, res) => {
        seen.push(req.url!);
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => res.end(`${req.url} got ${body}`));
      });
      expect(await Promise.all(calls)).toEqual(['/first got {"n":"first"}', '/second got {"n":"second"}', '/third got {"n":"third"}']);
      expect(seen).toEqual(['/first', '/second', '/third']);
      expect(await post(path, '/later', 'x')).toBe('/later got x'); // straight through once served
    } finally {
      await socket.close();
    }
  });

  it('closes with a connection still open, as the engine keeps them', async () => {
    const path = join(dir, 'close.sock');
    const socket = await PluginSocket.open(path);
    socket.serve((_req, res) => res.end('ok'));
    const agent = new Agent({ keepAlive: true });
    const kept = await new Promise<import('node:net').Socket>((resolve) => {
      const req = request({ socketPath: path, path: '/', method: 'POST', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(req.socket!));
      });
      req.end();
    });
    expect(kept.destroyed).toBe(false);
    const closing = socket.close(); // would wait for the kept connection if it were not dropped
    await new Promise((r) => kept.once('close', r));
    await closing;
    expect(socket.server.listening).toBe(false);
  });

  it('lets a call in progress finish before it closes, and cuts off one that outlasts the drain', async () => {
    const path = join(dir, 'drain.sock');
    const socket = await PluginSocket.open(path);
    let arrived: () => void = () => undefined;
    const callArrived = new Promise<void>((r) => (arrived = r));
    socket.serve((req, res) => {
      arrived();
      if (req.url === '/slow') setTimeout(() => res.end('done'), 300);
      // '/never' is never answered.
    });
    const slow = post(path, '/slow', '{}');
    await callArrived;
    await socket.close();
    expect(await slow).toBe('done');

    const path2 = join(dir, 'drain2.sock');
    const stuck = await PluginSocket.open(path2);
    let stuckArrived: () => void = () => undefined;
    const stuckCall = new Promise<void>((r) => (stuckArrived = r));
    stuck.serve(() => stuckArrived());
    const never = post(path2, '/never', '{}').then(() => 'answered', (err: Error) => err.message);
    await stuckCall;
    await stuck.close(200);
    expect(await never).toMatch(/socket hang up|ECONNRESET/);
  });
});
