import { Agent, request } from 'node:http';

/**
 * Calls a plugin's socket as dockerd does (POST, no Content-Type, the plugin Accept header),
 * with up to `connections` requests in flight, and records each call's latency.
 */
export class PluginApi {
  private readonly agent: Agent;
  readonly latencies = new Map<string, number[]>();

  constructor(readonly socket: string, connections = 64) {
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  async call<T = Record<string, unknown>>(method: string, body: unknown): Promise<T> {
    const payload = Buffer.from(`${JSON.stringify(body)}\n`);
    const started = performance.now();
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        { socketPath: this.socket, path: `/${method}`, method: 'POST', agent: this.agent, headers: { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': payload.length } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
    const ms = performance.now() - started;
    const list = this.latencies.get(method) ?? [];
    list.push(ms);
    this.latencies.set(method, list);
    const json = JSON.parse(reply.text) as T & { Err?: string; Error?: string };
    if (reply.status !== 200 || json.Err || json.Error) throw new Error(`${method}: ${reply.status} ${reply.text}`);
    return json;
  }

  close(): void {
    this.agent.destroy();
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
