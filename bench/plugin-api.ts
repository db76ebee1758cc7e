import { connect, type Socket } from 'node:net';

/**
 * Calls a plugin's socket as dockerd does (POST, no Content-Type, the plugin Accept header),
 * with up to `connections` requests in flight (one per kept-alive connection; more wait), and
 * records each call's latency.
 *
 * HTTP/1.1 by hand rather than node's http client: the load generator shares the machine's two
 * CPUs with the plugins and etcd, and node's client took about 0.2 ms of CPU per call (a
 * sixth of the machine in the control-plane benchmark), which the plugins then lacked. The
 * plugin answers every call with a Content-Length body, which is all this client reads.
 */
export class PluginApi {
  /**
   * Every call in order of its answer: when it started (performance.now()), its latency, and
   * whether it opened a connection of its own because every other one was busy. A Docker engine
   * opens one whenever it has more calls in flight than connections (Go's HTTP client keeps 2
   * idle ones per plugin by default); so does this client, which keeps every connection it
   * opened unless told `keepIdle`.
   */
  readonly timeline: Array<{ method: string; started: number; ms: number; newConnection: boolean }> = [];
  /** For the calls that opened a connection, how long the connect itself took (until the socket said it was connected). */
  readonly connectLatencies: number[] = [];
  private readonly idle: Connection[] = [];
  private readonly waiting: Array<(c: Connection) => void> = [];
  private opened = 0;

  /**
   * `connections`: the most calls in flight (more wait for one to end). `keepIdle`: the most
   * connections kept open while unused; one given back beyond that is closed, as Go's HTTP
   * client (a Docker engine's) does with more than 2 (its MaxIdleConnsPerHost default).
   */
  constructor(readonly socket: string, private readonly connections = 64, private readonly keepIdle = Infinity) {}

  async call<T = Record<string, unknown>>(method: string, body: unknown): Promise<T> {
    const payload = `${JSON.stringify(body)}\n`;
    const started = performance.now(); // waiting for a free connection counts, as in an engine
    const conn = await this.take();
    const firstOnConnection = conn.calls++ === 0 && conn.openedWhileBusy;
    let reply: { status: number; text: string };
    try {
      reply = await conn.send(`/${method}`, payload);
    } catch (err) {
      this.opened--; // a broken connection is not given back
      throw err;
    }
    const ms = performance.now() - started;
    this.give(conn);
    this.timeline.push({ method, started, ms, newConnection: firstOnConnection });
    if (firstOnConnection && conn.connectMs !== undefined) this.connectLatencies.push(conn.connectMs);
    const json = JSON.parse(reply.text) as T & { Err?: string; Error?: string };
    if (reply.status !== 200 || json.Err || json.Error) throw new Error(`${method}: ${reply.status} ${reply.text}`);
    return json;
  }

  /** Forgets every call recorded so far: the next phase's calls only. */
  resetFigures(): void {
    this.timeline.length = 0;
    this.connectLatencies.length = 0;
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.close();
  }

  private take(): Promise<Connection> {
    const conn = this.idle.pop();
    if (conn) return Promise.resolve(conn);
    if (this.opened < this.connections) {
      // The client's first connection is no sign of a busy plugin: only later ones count.
      const conn = new Connection(this.socket, this.opened > 0);
      this.opened++;
      return Promise.resolve(conn);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private give(conn: Connection): void {
    const next = this.waiting.shift();
    if (next) next(conn);
    else if (this.idle.length < this.keepIdle) this.idle.push(conn);
    else {
      conn.close();
      this.opened--;
    }
  }
}

/** The longest any call may wait for its answer (the plugin's own calls are bounded far lower). */
const ANSWER_TIMEOUT_MS = 60_000;

/** One kept-alive connection: one request at a time. */
class Connection {
  /** Calls sent on it so far. */
  calls = 0;
  /** How long the connect took; undefined until connected. */
  connectMs: number | undefined;
  private readonly sock: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve(r: { status: number; text: string }): void; reject(err: Error): void; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;

  /** `openedWhileBusy`: opened because every other connection of the client was in use. */
  constructor(path: string, readonly openedWhileBusy = false) {
    const began = performance.now();
    this.sock = connect(path);
    this.sock.once('connect', () => (this.connectMs = performance.now() - began));
    this.sock.on('data', (chunk: Buffer) => this.onData(chunk));
    this.sock.on('error', (err) => this.fail(err));
    this.sock.on('close', () => this.fail(new Error('the plugin closed the connection')));
  }

  send(path: string, payload: string): Promise<{ status: number; text: string }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      // A call nobody answers fails the run instead of hanging it (a connection accepted and
      // then left alone did, while copies of the plugin's socket were tried).
      const timer = setTimeout(() => this.fail(new Error(`no answer to ${path} within ${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS);
      this.pending = { resolve, reject, timer };
      this.sock.write(
        `POST ${path} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
      );
    });
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headEnd = this.buffer.indexOf('\r\n\r\n');
    if (headEnd < 0 || !this.pending) return;
    const head = this.buffer.subarray(0, headEnd).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]);
    if (!Number.isFinite(length)) return this.fail(new Error(`no Content-Length in the plugin's answer: ${head.split('\r\n')[0]}`));
    if (this.buffer.length < headEnd + 4 + length) return;
    const text = this.buffer.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(headEnd + 4 + length);
    const { resolve, timer } = this.pending;
    this.pending = undefined;
    clearTimeout(timer);
    resolve({ status: Number(head.split(' ')[1]), text });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const pending = this.pending;
    this.pending = undefined;
    clearTimeout(pending?.timer);
    pending?.reject(err);
    if (pending) this.sock.destroy(); // a late answer must not be read as the next call's
  }
}

/** Runs `task` for every item with at most `limit` at once. */
export async function pool<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await task(items[i]!, i);
    }
  });
  await Promise.all(workers);
}

export const randomId = () => Array.from({ length: 64 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
