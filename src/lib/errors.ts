/**
 * One catalog of error kinds. Every layer throws PluginError with the kind that tells the
 * protocol layer how to answer (and tells a person what to do); nothing else is classified.
 */
export type ErrorKind =
  | 'bad-request' // the caller sent something we refuse: fix the request
  | 'not-found' // the thing named does not exist (here)
  | 'conflict' // the request clashes with cluster state: pick another value
  | 'unavailable' // a dependency (etcd, the engine) cannot be reached: retry later
  | 'busy' // this host refuses calls beyond its bounds (--max-calls-in-flight, --max-call-rate): retry
  | 'internal'; // a bug or a kernel failure: read the log

export class PluginError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PluginError';
  }
}

export const badRequest = (msg: string) => new PluginError('bad-request', msg);
export const notFound = (msg: string) => new PluginError('not-found', msg);
export const conflict = (msg: string) => new PluginError('conflict', msg);
export const unavailable = (msg: string, cause?: unknown) => new PluginError('unavailable', msg, { cause });
export const busy = (msg: string) => new PluginError('busy', msg);
export const internal = (msg: string, cause?: unknown) => new PluginError('internal', msg, { cause });

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
