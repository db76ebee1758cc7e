import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';

/** How long an idle connection stays open: fastify's default. */
const KEEP_ALIVE_MS = 72_000;

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The plugin's Unix socket, listening before the API behind it exists. The engine dials a
 * managed plugin's socket 0.5 s after starting it and, when nothing listens, only 3 s later
 * again; node loading the plugin's modules takes longer than 0.5 s here. So `serve` opens
 * this first, with nothing but node's own http module loaded, and the API (buildServer) takes
 * over the server once it is built: requests that came before wait for it, in order.
 */
export class PluginSocket {
  private handler: RequestHandler | undefined;
  private readonly waiting: Array<[IncomingMessage, ServerResponse]> = [];
  /** Connections accepted before anyone asked to hear of them (reportConnections). */
  private unreported = 0;
  private onConnections: ((count: number) => void) | undefined;

  private constructor(readonly path: string, readonly server: Server) {
    // What fastify gives the servers it makes itself (this one it only takes over): the engine
    // keeps a connection between calls, and calls are bounded by their own timeouts.
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    server.requestTimeout = 0;
    server.on('connection', () => (this.onConnections ? this.onConnections(1) : this.unreported++));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.handler) this.handler(req, res);
      else this.waiting.push([req, res]);
    });
  }

  /** Listens on `path`, replacing a stale socket; only root may use it (0600). */
  static async open(path: string): Promise<PluginSocket> {
    const socket = new PluginSocket(path, createServer());
    await mkdir(dirname(path), { recursive: true });
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      socket.server.once('error', reject);
      socket.server.listen(path, () => {
        socket.server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600);
    return socket;
  }

  /**
   * Tells `opened` how many connections were accepted since the socket listened (the plugin
   * starting: no metrics yet), then of each new one.
   */
  reportConnections(opened: (count: number) => void): void {
    if (this.unreported > 0) opened(this.unreported);
    this.unreported = 0;
    this.onConnections = opened;
  }

  /** From now on `handler` answers; the requests that waited go to it first, in arrival order. */
  serve(handler: RequestHandler): void {
    this.handler = handler;
    for (const [req, res] of this.waiting.splice(0)) handler(req, res);
  }

  /**
   * Stops listening, lets the calls in progress finish (for `drainMs` at most), and drops every
   * connection: the engine keeps them open between calls, so waiting for it to close them would
   * never end. A call cut off mid-way would leave the engine with no answer while the plugin
   * went on with it, beneath a plugin that is stopping.
   */
  async close(drainMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = performance.now() + drainMs;
    let done = false;
    void closed.then(() => (done = true));
    // A connection whose call is answered is idle again: closed at the next look.
    while (!done && performance.now() < deadline) {
      this.server.closeIdleConnections();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 20))]);
    }
    this.server.closeAllConnections();
    await closed;
  }
}
