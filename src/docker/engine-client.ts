import { request } from 'node:http';
import { errorMessage, PluginError, unavailable } from '../lib/errors.js';

/** The subset of `docker network inspect` that ts-overlay reads. */
export interface EngineNetwork {
  Id: string;
  Name: string;
  Driver: string;
  Internal: boolean;
  Attachable: boolean;
  EnableIPv6: boolean;
  Options: Record<string, string> | null;
  Labels: Record<string, string> | null;
  IPAM: {
    Driver: string;
    Options: Record<string, string> | null;
    Config: Array<{ Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }> | null;
  };
  Containers?: Record<string, unknown>;
}

/** The subset of `docker inspect <container>` that the name publisher reads. */
export interface EngineContainer {
  Id: string;
  Name: string; // "/test1"
  State?: { Running?: boolean };
  NetworkSettings?: {
    SandboxKey?: string;
    Networks?: Record<string, {
      NetworkID?: string;
      EndpointID?: string;
      IPAddress?: string;
      /** --network-alias / --alias; on user-defined networks the engine adds the short ID. */
      Aliases?: string[] | null;
      /** Engines from API 1.44 list every name here (name, aliases, short ID). */
      DNSNames?: string[] | null;
    }> | null;
  };
}

export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
}

export interface CreateNetworkBody {
  Name: string;
  Driver: string;
  CheckDuplicate: boolean;
  Internal: boolean;
  Attachable: boolean;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  IPAM: { Driver: string; Options: Record<string, string>; Config: Array<Record<string, unknown>> };
}

export class EngineError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** API version every engine from 20.10 on speaks. */
const API = '/v1.41';

/** The local engine's HTTP API over its Unix socket. */
export class EngineClient {
  private readonly socketPath: string;

  constructor(dockerHost: string) {
    this.socketPath = dockerHost.replace(/^unix:\/\//, '');
  }

  listNetworks(driver: string): Promise<EngineNetwork[]> {
    const filters = encodeURIComponent(JSON.stringify({ driver: [driver] }));
    return this.call<EngineNetwork[]>('GET', `/networks?filters=${filters}`);
  }

  /** Every network of the engine, whatever its driver. */
  listAllNetworks(): Promise<EngineNetwork[]> {
    return this.call<EngineNetwork[]>('GET', '/networks');
  }

  inspectNetwork(id: string): Promise<EngineNetwork> {
    return this.call<EngineNetwork>('GET', `/networks/${encodeURIComponent(id)}`);
  }

  inspectContainer(id: string): Promise<EngineContainer> {
    return this.call<EngineContainer>('GET', `/containers/${encodeURIComponent(id)}/json`);
  }

  createNetwork(body: CreateNetworkBody): Promise<{ Id: string }> {
    return this.call<{ Id: string }>('POST', '/networks/create', body);
  }

  async removeNetwork(id: string): Promise<void> {
    await this.call('DELETE', `/networks/${encodeURIComponent(id)}`);
  }

  async ping(): Promise<boolean> {
    try {
      await this.call('GET', '/_ping');
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Streams engine events until the connection ends or `signal` aborts. Resolves when the
   * stream ends (the caller reconnects); rejects when it cannot connect.
   */
  streamEvents(filters: Record<string, string[]>, onEvent: (e: EngineEvent) => void, signal: AbortSignal, onOpen?: () => void): Promise<void> {
    const path = `${API}/events?filters=${encodeURIComponent(JSON.stringify(filters))}`;
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method: 'GET', signal }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new EngineError(res.statusCode ?? 0, `engine events: HTTP ${res.statusCode}`));
          return;
        }
        onOpen?.();
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            try {
              onEvent(JSON.parse(line) as EngineEvent);
            } catch {
              // a line we cannot parse is not worth dropping the stream for
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      req.end();
    });
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path: API + path,
          method,
          headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {},
          timeout: 30_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              try {
                resolve((text ? JSON.parse(text) : undefined) as T);
              } catch {
                resolve(text as T);
              }
              return;
            }
            let message = text.trim();
            try {
              message = (JSON.parse(text) as { message?: string }).message ?? message;
            } catch {
              // not JSON: keep the text
            }
            reject(new EngineError(status, `engine ${method} ${path}: ${message}`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        reject(err instanceof PluginError ? err : unavailable(`engine at ${this.socketPath} unreachable: ${errorMessage(err)}`, err));
      });
      if (payload) req.write(payload);
      req.end();
    });
  }
}
