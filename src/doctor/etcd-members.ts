import { errorMessage } from '../lib/errors.js';
import { type CheckResult, fail, pass } from './check.js';

const NAME = 'etcd members';
const TIMEOUT_MS = 3000;

/**
 * Asks every --etcd endpoint for its version over plain HTTP (GET /version, which every etcd
 * serves on its client URL). The plugin survives a member down when others answer, but a
 * member this host cannot reach is one failure away from an outage, so it counts as a FAIL.
 */
export async function checkEtcdMembers(endpoints: readonly string[]): Promise<CheckResult> {
  const answers = await Promise.all(endpoints.map(async (ep) => {
    try {
      const res = await fetch(`${ep}/version`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (!res.ok) return { ep, error: `HTTP ${res.status}` };
      const body = (await res.json()) as { etcdserver?: string };
      return { ep, version: body.etcdserver ?? 'unknown version' };
    } catch (err) {
      return { ep, error: causeOf(err) };
    }
  }));
  const down = answers.filter((a) => a.error !== undefined);
  const up = answers.filter((a) => a.error === undefined);
  const versions = [...new Set(up.map((a) => a.version))].join(', ');
  if (down.length === 0) return pass(NAME, `${up.length}/${answers.length} answered (etcd ${versions})`);
  return fail(
    NAME,
    `${down.map((a) => `${a.ep}: ${a.error}`).join('; ')}${up.length ? ` (${up.length}/${answers.length} answered)` : ''}`,
    'check that etcd runs there and that this host reaches it (firewall, address in --etcd / TS_OVERLAY_ETCD)',
  );
}

/** fetch hides the reason ("fetch failed") in its cause: ECONNREFUSED, a timeout, ... */
export function causeOf(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS / 1000} s`;
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? errorMessage(err);
}
