import { connect } from 'node:net';
import { PLUGIN_ACCEPT, PluginClient, RawBody, type Reply } from '../../src/conformance/client.js';
import { goField, judge } from '../../src/conformance/docker-rules.js';
import { randomDockerId } from '../../src/conformance/ipv4.js';
import { type IsolatedPlugin, type PluginProcess, startIsolatedPlugin } from '../conformance/plugin-fixture.js';
import { BODY_LIMIT } from '../../src/protocol/server.js';
import type { EtcdServer } from './etcd-server.js';
import { type Netns, sh } from './netns.js';

/**
 * A real plugin (dist/main.js) with a real etcd in a throwaway namespace, for hostile input:
 * one request at a time, each judged by Docker's rules, with the cluster's state (etcd keys
 * and values under /ts-overlay/, the namespace's ts* links) compared before and after.
 * The namespace is the conformance fixture's (tsot-conf<pid>-...), so a later run removes
 * what a killed run left, whichever suite made it.
 */
const UNDERLAY = '198.18.251.1';
const ETCD_PORTS = { clientPort: 23994, peerPort: 23995 };
export const ADDRESS_SPACE = 'ts-overlay';

export interface Sent {
  readonly path: string;
  /** An object (JSON-encoded like dockerd does) or a RawBody sent byte for byte. */
  readonly body: unknown;
}

export interface Outcome {
  readonly path: string;
  readonly sent: string;
  readonly reply: Reply;
  readonly success: boolean;
  /** The parsed success body (empty object for errors). */
  readonly body: Record<string, unknown>;
}

export class HostilePlugin {
  readonly client: PluginClient;
  /** Hostile inputs sent, by category (setup, teardown, repeats and liveness checks not counted). */
  readonly counts = new Map<string, number>();
  /** Requests sent in all, hostile or not. */
  requests = 0;

  readonly ns: Netns;
  readonly etcd: EtcdServer;
  readonly plugin: PluginProcess;
  readonly socket: string;

  private constructor(private readonly fixture: IsolatedPlugin) {
    ({ ns: this.ns, etcd: this.etcd, plugin: this.plugin, socket: this.socket } = fixture);
    this.client = new PluginClient(fixture.socket, 15_000);
  }

  /**
   * The rate limit is off: this suite sends thousands of calls fast, and tests input, not
   * throttling (limits.test.ts does). So are spare interfaces: its quick Joins would have the
   * plugin make them, which the suite's comparison of kernel state before and after a request
   * would count as the request's doing (spare-ports.test.ts tests them).
   */
  static async start(): Promise<HostilePlugin> {
    return new HostilePlugin(await startIsolatedPlugin({ underlay: UNDERLAY, etcdPorts: ETCD_PORTS, nodeName: 'hostile', logLevel: 'error', extraArgs: ['--max-call-rate', '0', '--spare-ports', '0'] }));
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.fixture.stop();
  }

  /** A request that is part of the test's own setup or teardown: it must succeed. */
  async must(path: string, body?: unknown): Promise<Record<string, unknown>> {
    const o = await this.send(path, body);
    if (!o.success) throw new Error(`setup/teardown call failed: ${describe(o)}`);
    return o.body;
  }

  async send(path: string, body?: unknown): Promise<Outcome> {
    this.requests++;
    const x = await this.client.call(path, body);
    const v = judge(path, x.reply);
    return { path, sent: x.sent, reply: x.reply, success: v.success, body: v.success ? v.body : {} };
  }

  /** Counts one hostile input of `category` and sends it. */
  async hostile(category: string, path: string, body?: unknown): Promise<Outcome> {
    this.counts.set(category, (this.counts.get(category) ?? 0) + 1);
    return this.send(path, body);
  }

  /**
   * Sends `payload` on a fresh connection of its own and reads whatever comes back, also when
   * the server answers (413) and closes before the body is all written: Node's HTTP client
   * reports only the write error then, while Go's, as dockerd uses it, reads the answer.
   * `chunked`: no Content-Length, so that only the bytes received can tell the size.
   */
  async sendRaw(category: string, path: string, payload: string, chunked = false): Promise<Outcome> {
    this.counts.set(category, (this.counts.get(category) ?? 0) + 1);
    this.requests++;
    const body = Buffer.from(payload, 'utf8');
    const head = chunked
      ? `POST ${path} HTTP/1.1\r\nHost: plugin\r\nAccept: ${PLUGIN_ACCEPT}\r\nTransfer-Encoding: chunked\r\n\r\n`
      : `POST ${path} HTTP/1.1\r\nHost: plugin\r\nAccept: ${PLUGIN_ACCEPT}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const received = await new Promise<{ data: Buffer; error?: string }>((resolve) => {
      const chunks: Buffer[] = [];
      let failure: string | undefined;
      let closed = false;
      const s = connect(this.socket);
      const timer = setTimeout(() => s.destroy(new Error('no answer within 15 s')), 15_000);
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('error', (err) => (failure ??= err.message));
      s.on('close', () => {
        closed = true;
        clearTimeout(timer);
        resolve({ data: Buffer.concat(chunks), ...(failure ? { error: failure } : {}) });
      });
      // Piece by piece, each flushed before the next, and no more once an answer has begun:
      // a server that answers early and closes would otherwise make the writes fail, and Node
      // drops what it had not yet read of the answer when a write fails.
      const write = (piece: Buffer | string) => new Promise<void>((done) => s.write(piece, () => done()));
      const answered = () => closed || chunks.length > 0;
      s.on('connect', async () => {
        await write(head);
        await new Promise((r) => setTimeout(r, 20));
        // A Content-Length over the limit is refused on the head alone, before any of the body
        // is read: give that answer the same time as one past the limit below.
        for (let waited = 0; !chunked && body.length > BODY_LIMIT && !answered() && waited < 2000; waited += 5) await new Promise((r) => setTimeout(r, 5));
        for (let i = 0; i < body.length && !answered(); i += 16 * 1024) {
          const piece = body.subarray(i, i + 16 * 1024);
          if (chunked) await write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
          else await write(piece);
          // Past the limit the server is about to answer: give it time (2 s on a busy machine)
          // before writing more.
          for (let waited = 0; i + piece.length > BODY_LIMIT && !answered() && waited < 2000; waited += 5) await new Promise((r) => setTimeout(r, 5));
        }
        if (!answered()) {
          if (chunked) await write('0\r\n\r\n');
          s.end();
        }
      });
    });
    const reply = parseHttpReply(received.data, received.error);
    const v = judge(path, reply);
    return { path, sent: payload, reply, success: v.success, body: v.success ? v.body : {} };
  }

  /** Undefined when the process runs and Plugin.Activate succeeds; otherwise why not. */
  async deadOrDeaf(): Promise<string | undefined> {
    const child = this.plugin.child;
    if (child.exitCode !== null || child.signalCode !== null) return `the plugin exited (${child.exitCode ?? child.signalCode}):\n${this.tail()}`;
    this.requests++;
    const x = await this.client.call('/Plugin.Activate');
    const implementsList = goField(x.reply.json, 'Implements');
    if (x.reply.status !== 200 || !Array.isArray(implementsList) || !implementsList.includes('NetworkDriver') || !implementsList.includes('IpamDriver')) {
      return `Plugin.Activate no longer answers as before: ${x.reply.status} ${x.reply.text.slice(0, 300)} ${x.reply.transportError ?? ''}`;
    }
    return undefined;
  }

  /** The plugin's last output, for failure messages. */
  tail(): string {
    return this.plugin.output().slice(-4000);
  }

  /**
   * The cluster state a request could leak: every etcd key under /ts-overlay/ with its value
   * (except the leased nodes/ records and the pools-guard counter, which change by themselves)
   * and the links of the plugin's namespace (all of them: the ts* ones the plugin makes, and
   * any other a hostile name could have made). Sorted lines, for a readable diff.
   */
  state(): string[] {
    const out = this.ns.exec('env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', this.etcd.endpoint, 'get', '/ts-overlay/', '--prefix', '-w', 'json');
    const kvs = ((JSON.parse(out) as { kvs?: { key: string; value: string }[] }).kvs ?? []).map((kv) => ({
      key: Buffer.from(kv.key, 'base64').toString('utf8'),
      value: Buffer.from(kv.value, 'base64').toString('utf8'),
    }));
    if (!kvs.some((kv) => kv.key.startsWith('/ts-overlay/nodes/'))) {
      // The node's own key proves the query sees the plugin's keys at all.
      throw new Error(`no /ts-overlay/nodes/ key in etcd: the state query does not see the plugin's keys (got ${kvs.map((k) => k.key).join(', ')})`);
    }
    const keys = kvs
      .filter((kv) => !kv.key.startsWith('/ts-overlay/nodes/') && kv.key !== '/ts-overlay/pools-guard')
      .map((kv) => `etcd ${kv.key} = ${kv.value}`);
    const links = sh('ip', ['-n', this.ns.name, '-br', 'link'])
      .split('\n')
      .map((l) => l.split(/\s+/)[0]!.split('@')[0]!)
      .filter(Boolean)
      .map((l) => `link ${l}`);
    return [...keys, ...links].sort();
  }
}

/** `POST /X {...} -> 200 {...}`, shortened, for failure messages and the report. */
export function describe(o: Pick<Outcome, 'path' | 'sent' | 'reply'>, max = 400): string {
  const short = (s: string) => (s.length <= max ? s : `${s.slice(0, max)}...(${s.length} bytes)`);
  const answer = o.reply.status === 0 ? `no answer (${o.reply.transportError ?? 'connection failed'})` : `${o.reply.status} ${short(o.reply.text.trim() || '(empty body)')}`;
  return `POST ${o.path} ${short(o.sent.trim() || '(empty body)')} -> ${answer}`;
}

/**
 * Why `o` is not an error the way Docker and the plugin's contract want one, or undefined:
 * an HTTP answer, a JSON object with a non-empty "Err" (and for /IpamDriver.* the same text
 * under "Error", the only field the engine reads from a 200 IPAM reply), no 5xx, and no
 * "internal error" (hostile input must be refused by validation, not by a crash deeper in).
 */
export function errorProblem(o: Outcome): string | undefined {
  if (o.reply.status === 0) return `no HTTP answer: ${describe(o)}`;
  if (o.success) return `accepted as success: ${describe(o)}`;
  if (o.reply.status >= 500) return `a ${o.reply.status} (server fault) rather than a refusal: ${describe(o)}`;
  const body = o.reply.json;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return `the error reply is not a JSON object: ${describe(o)}`;
  const err = (body as Record<string, unknown>)['Err'];
  if (typeof err !== 'string' || err === '') return `the error reply has no non-empty "Err": ${describe(o)}`;
  if (o.path.startsWith('/IpamDriver.') && (body as Record<string, unknown>)['Error'] !== err) {
    return `an IPAM error reply must carry "Error" (what the engine reads) next to "Err": ${describe(o)}`;
  }
  if (/^internal error/i.test(err)) return `refused by a crash inside the plugin, not by validation: ${describe(o)}`;
  return undefined;
}

/** The status and body of one HTTP/1.1 response (Content-Length or chunked). */
function parseHttpReply(data: Buffer, transportError?: string): Reply {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (end < 0 || !status) return { status: 0, text: '', json: undefined, transportError: transportError ?? `no HTTP response (${data.length} bytes)` };
  const headers = text.slice(0, end).toLowerCase();
  let raw = data.subarray(end + 4);
  if (/\r\ntransfer-encoding: *chunked/.test(headers)) {
    const parts: Buffer[] = [];
    for (let at = 0; at < raw.length; ) {
      const eol = raw.indexOf('\r\n', at);
      const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16);
      if (!(size > 0)) break;
      parts.push(raw.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    raw = Buffer.concat(parts);
  } else {
    const length = /\r\ncontent-length: *(\d+)/.exec(headers);
    if (length) raw = raw.subarray(0, Number(length[1]));
  }
  const body = raw.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: Number(status[1]), text: body, json };
}

export { RawBody, randomDockerId };
