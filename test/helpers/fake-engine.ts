import { rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { CreateNetworkBody, EngineNetwork } from '../../src/docker/engine-client.js';

/**
 * The part of a Docker engine's API that a plugin reads back, played by the test: the test
 * is the engine (it sends the plugin API calls, as dockerd would), so it also answers what
 * the plugin asks the engine about its networks and their containers. Networks and
 * containers appear here only once the plugin acknowledged them, as in dockerd.
 * The event stream reports networks created and destroyed, as dockerd does. Creating and removing networks through this API
 * (what propagation does) goes to `onCreate`/`onRemove`, which the test sets to play what
 * dockerd then asks the plugin.
 */
export class FakeEngine {
  readonly networks = new Map<string, EngineNetwork & { Containers: Record<string, EngineContainer> }>();
  private readonly streams = new Set<ServerResponse>();
  private server: Server | undefined;
  onCreate: ((body: CreateNetworkBody) => Promise<string>) | undefined;
  onRemove: ((id: string) => Promise<void>) | undefined;

  constructor(readonly socket: string) {}

  /** The engine now has the network (the plugin acknowledged it): an event says so. */
  addNetwork(n: EngineNetwork & { Containers: Record<string, EngineContainer> }): void {
    this.networks.set(n.Id, n);
    this.emit('create', n);
  }

  dropNetwork(id: string): void {
    const n = this.networks.get(id);
    if (!n) return;
    this.networks.delete(id);
    this.emit('destroy', n);
  }

  private emit(action: string, n: EngineNetwork): void {
    const line = JSON.stringify({ Type: 'network', Action: action, Actor: { ID: n.Id, Attributes: { name: n.Name, type: n.Driver } }, time: Math.floor(Date.now() / 1000) });
    for (const s of this.streams) s.write(`${line}\n`);
  }

  async start(): Promise<void> {
    rmSync(this.socket, { force: true });
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://engine');
      const path = url.pathname.replace(/^\/v[\d.]+/, '');
      const reply = (status: number, body?: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (req.method === 'POST' && path === '/networks/create') {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (text += c));
        req.on('end', () => {
          const body = JSON.parse(text) as CreateNetworkBody;
          if ([...this.networks.values()].some((n) => n.Name === body.Name)) return reply(409, { message: `network with name ${body.Name} already exists` });
          if (!this.onCreate) return reply(501, { message: 'the test does not play network creation' });
          this.onCreate(body).then(
            (Id) => reply(201, { Id, Warning: '' }),
            (err: unknown) => reply(500, { message: err instanceof Error ? err.message : String(err) }),
          );
        });
        return;
      }
      req.resume();
      if (req.method === 'GET' && path === '/_ping') return reply(200, 'OK');
      if (req.method === 'GET' && path === '/events') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        this.streams.add(res);
        res.on('close', () => this.streams.delete(res));
        return;
      }
      if (req.method === 'GET' && path === '/networks') return reply(200, [...this.networks.values()].map(({ Containers: _, ...n }) => n));
      const one = /^\/networks\/([^/]+)$/.exec(path);
      if (one) {
        const id = decodeURIComponent(one[1]!);
        const n = this.networks.get(id);
        if (req.method === 'GET') return n ? reply(200, n) : reply(404, { message: `network ${id} not found` });
        if (req.method === 'DELETE') {
          if (!n) return reply(404, { message: `network ${id} not found` });
          if (Object.keys(n.Containers).length > 0) return reply(403, { message: `network ${n.Name} has active endpoints` });
          if (!this.onRemove) return reply(501, { message: 'the test does not play network removal' });
          return void this.onRemove(id).then(() => reply(204), (err: unknown) => reply(403, { message: String(err) }));
        }
      }
      return reply(501, { message: `the test's engine does not play ${req.method} ${path}` });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socket, () => resolve());
    });
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    rmSync(this.socket, { force: true });
  }
}

export interface EngineContainer {
  readonly EndpointID: string;
  readonly MacAddress: string;
  readonly IPv4Address: string;
}
