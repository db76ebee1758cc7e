import { Agent, request } from 'node:http';

/** The only header dockerd's plugin client sets itself (moby pkg/plugins/transport). */
export const PLUGIN_ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

/** A body sent byte for byte, for requests dockerd would never make (malformed JSON). */
export class RawBody {
  constructor(readonly text: string) {}
}

/** What came back: the HTTP status and the body, parsed as JSON when it is JSON. */
export interface Reply {
  /** 0 when no HTTP answer arrived at all (see transportError). */
  readonly status: number;
  readonly text: string;
  /** The parsed body; undefined when the body is not JSON. */
  readonly json: unknown;
  readonly transportError?: string;
}

/** One request and its reply, for details that let a reader replay the failure. */
export interface Exchange {
  readonly path: string;
  readonly sent: string;
  readonly reply: Reply;
}

/**
 * Talks to a plugin the way dockerd does: a POST per call on the Unix socket, no Content-Type,
 * only the Accept header, and the arguments JSON-encoded with a trailing newline (Go's
 * json.Encoder) or no body at all for calls without arguments. Connections are kept alive
 * and reused, as Go's HTTP client does.
 */
export class PluginClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    readonly socket: string,
    private readonly timeoutMs = 30_000,
  ) {}

  /** `args` undefined sends an empty body, as dockerd does for GetCapabilities and friends. */
  async call(path: string, args?: unknown): Promise<Exchange> {
    const sent = args === undefined ? '' : args instanceof RawBody ? args.text : `${JSON.stringify(args)}\n`;
    const reply = await this.post(path, sent);
    return { path, sent, reply };
  }

  /** Closes the kept-alive connection so that the process can exit. */
  close(): void {
    this.agent.destroy();
  }

  private post(path: string, body: string): Promise<Reply> {
    const payload = Buffer.from(body, 'utf8');
    return new Promise((resolve) => {
      const failed = (err: Error) => resolve({ status: 0, text: '', json: undefined, transportError: err.message });
      const req = request(
        {
          socketPath: this.socket,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { Accept: PLUGIN_ACCEPT, 'Content-Length': payload.length },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', failed);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, text, json: parseJson(text) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', failed);
      req.end(payload);
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `POST /X {...} -> 200 {...}`, shortened, for a check's detail. */
export function describeExchange(x: Exchange, max = 300): string {
  const r = x.reply;
  const answer = r.status === 0 ? `no answer (${r.transportError ?? 'connection failed'})` : `${r.status} ${shorten(r.text.trim() || '(empty body)', max)}`;
  return `POST ${x.path} ${shorten(x.sent.trim() || '(empty body)', max)} -> ${answer}`;
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}...(${s.length} bytes)`;
}
