import { type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { ValueError } from '@sinclair/typebox/errors';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { CallLimits } from '../lib/call-limits.js';
import { BurstLog } from '../lib/burst-log.js';
import { busy, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { withTimeout } from '../lib/retry.js';
import { type ApiCallObserver, noMetrics } from '../metrics/ports.js';
import type { PluginSocket, RequestHandler } from './plugin-socket.js';
import { errorBodyFor, replyFor, RequestError } from './reply-error.js';

export type Handler = (body: any) => Promise<unknown> | unknown;

export interface Route {
  readonly path: string; // "/NetworkDriver.CreateNetwork"
  readonly schema?: TSchema;
  readonly handle: Handler;
  /** Answers from constants (Activate, capabilities): served even before the plugin is ready. */
  readonly static?: boolean;
}

/** How long a call waits for a starting plugin before it is told to come back. */
export const STARTUP_WAIT_MS = 20_000;

/** Bodies above this are refused before parsing; the largest real request is a few KiB. */
export const BODY_LIMIT = 256 * 1024;

/**
 * Builds (does not start) the HTTP app: one POST route per API call, every body checked
 * against its schema, every failure answered with {"Err": ...}. This is the one place where
 * request errors are logged, and where every answered call is counted and timed.
 */
export function buildServer(
  routes: readonly Route[],
  log: Logger,
  observer: ApiCallObserver = noMetrics,
  ready: Promise<void> = Promise.resolve(),
  limits: CallLimits = new CallLimits({ maxInFlight: 0, maxPerSecond: 0 }),
  /** Where to serve, already listening: the app answers on it once ready (`await app.ready()`). */
  socket?: PluginSocket,
): FastifyInstance {
  // Requests are logged once, by the error handler, when they fail; success is silent. Fastify
  // gets no logger: it would make a child logger for every request, which nothing here reads.
  const httpLog = log.child({ component: 'http' });
  const refusals = new BurstLog(httpLog);
  let handler: RequestHandler | undefined;
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    ...(socket && {
      serverFactory: (h: RequestHandler) => {
        handler = h;
        return socket.server;
      },
    }),
  });
  if (socket) app.addHook('onReady', async () => socket.serve(handler!));
  // Counted because a new connection waits longer than a kept one (docs/performance-targets.md,
  // "The tail at 500 a second"); those the socket took while the plugin was starting count too.
  if (socket && observer.connectionOpened) socket.reportConnections((n) => observer.connectionOpened!(n));

  // dockerd sends no Content-Type at all: parse every body as JSON, whatever it claims.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body).trim();
    if (text === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new RequestError(400, 'request body is not valid JSON'), undefined);
    }
  });

  // Once ready, calls no longer wait for it: no timer per call.
  let isReady = false;
  void ready.then(() => (isReady = true), () => undefined);

  for (const route of routes) {
    const check: TypeCheck<TSchema> | undefined = route.schema ? TypeCompiler.Compile(route.schema) : undefined;
    app.post(route.path, async (req, reply) => {
      const body: unknown = req.body ?? {};
      if (check && !check.Check(body)) {
        const error = deepestError(check.Errors(body));
        const where = error?.path ? `field ${error.path.slice(1).replace(/\//g, '.')}` : 'body';
        throw new RequestError(400, `invalid ${route.path.slice(1)} request: ${where}: ${error?.message ?? 'does not match the schema'}`);
      }
      if (route.static) return answer(reply, await route.handle(body));
      // Calls that touch state are bounded (see CallLimits); constant answers never are.
      const slot = limits.acquire();
      if (!slot.ok) throw busy(slot.why);
      try {
        // The socket opens at once so that the engine's activation check finds the plugin;
        // calls that touch state wait until the start-up reconcile is done.
        if (!isReady) await withTimeout(ready, STARTUP_WAIT_MS, () => unavailable('ts-overlay is still starting (registering in etcd and reconciling this host); try again shortly'));
        return answer(reply, await route.handle(body));
      } finally {
        limits.release();
      }
    });
  }

  // Failures are mostly a 200 with {"Err"} (what Docker shows best), so the status code alone
  // cannot tell them apart: the error handler marks them. Unknown paths share one label, so
  // a caller probing random URLs cannot grow the metrics without bound.
  const failed = new WeakSet<object>();
  const known = new Set(routes.map((r) => r.path));
  observer.declareCalls?.([...known].map((path) => path.slice(1)));
  app.addHook('onResponse', async (req, reply) => {
    if (httpLog.isLevelEnabled('debug')) httpLog.debug({ call: req.url, ms: Number(reply.elapsedTime.toFixed(2)), status: reply.statusCode }, 'api call');
    const path = req.routeOptions.url;
    const call = path !== undefined && known.has(path) ? path.slice(1) : 'unknown';
    observer.apiCall(call, failed.has(req) || reply.statusCode >= 400 ? 'error' : 'ok', reply.elapsedTime / 1000);
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ Err: `unknown API call ${req.method} ${req.url}` });
  });
  app.setErrorHandler((err: Error, req, reply) => {
    failed.add(req);
    const fastifyCode = (err as { statusCode?: number }).statusCode;
    const { status, body, kind } =
      fastifyCode && fastifyCode >= 400 && fastifyCode < 500 && !(err instanceof RequestError)
        ? { status: fastifyCode, body: { Err: err.message }, kind: 'bad-request' as const }
        : replyFor(err);
    // Refusals are the bounds doing their job, and come in bursts: counted, not each logged.
    if (kind === 'busy') refusals.warn({ kind }, body.Err);
    else httpLog[kind === 'internal' || kind === 'unavailable' ? 'error' : 'warn']({ call: req.url, kind, err: kind === 'internal' ? err : undefined }, body.Err);
    void reply.code(status).header('Content-Type', 'application/json').send(errorBodyFor(req.url, body.Err));
  });
  return app;
}

/** A call's answer, with the content type of Docker's plugin protocol. */
function answer(reply: FastifyReply, result: unknown): unknown {
  void reply.header('Content-Type', 'application/vnd.docker.plugins.v1.2+json');
  return result ?? {};
}

/**
 * The most specific schema error: for a value that may be an object or null, "expected
 * union" says little, while the nested error names the field that is wrong.
 */
function deepestError(errors: Iterable<ValueError>): ValueError | undefined {
  let best: ValueError | undefined;
  const visit = (list: Iterable<ValueError>) => {
    for (const e of list) {
      if (!best || e.path.length > best.path.length) best = e;
      for (const nested of e.errors ?? []) visit(nested);
    }
  };
  visit(errors);
  return best;
}
