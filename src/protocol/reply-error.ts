import type { ErrorKind } from '../lib/errors.js';
import { PluginError } from '../lib/errors.js';

/**
 * How an error becomes an answer. Docker treats a 200 with a non-empty Err as a failure and
 * shows "remote: <Err>" to the user, the clearest form, so every error the driver or IPAM
 * raises is answered that way. Only requests that are not the API at all (unknown path,
 * unparseable JSON, a body that fails its schema) get a 4xx, still with {"Err": ...}.
 */
export function replyFor(err: unknown): { status: number; body: ErrorBody; kind: ErrorKind } {
  if (err instanceof RequestError) return { status: err.status, body: { Err: err.message }, kind: 'bad-request' };
  if (err instanceof PluginError) return { status: 200, body: { Err: err.message }, kind: err.kind };
  const message = err instanceof Error ? err.message : String(err);
  return { status: 200, body: { Err: `internal error: ${message}` }, kind: 'internal' };
}

/**
 * The two APIs name their error field differently: NetworkDriver replies carry "Err"
 * (drivers/remote/api), IpamDriver replies carry "Error" (ipams/remote/api: the engine reads
 * only that field from a 200 reply, so an IPAM failure under "Err" alone passes for success).
 * IPAM errors carry both: "Error" for the engine, "Err" for the plugin-wide contract.
 */
export interface ErrorBody {
  Err: string;
  Error?: string;
}

export function errorBodyFor(path: string, message: string): ErrorBody {
  return path.startsWith('/IpamDriver.') ? { Err: message, Error: message } : { Err: message };
}

/** The request itself is malformed (HTTP level). */
export class RequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
