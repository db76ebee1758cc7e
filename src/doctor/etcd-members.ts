import { errorMessage } from '../lib/errors.js';
import { type CheckResult, fail, pass } from './check.js';
import { type EtcdTls, getEtcdVersion } from './etcd-http.js';

const NAME = 'etcd members';

/**
 * Asks every --etcd endpoint for its version (GET /version, which every etcd
 * serves on its client URL). The plugin survives a member down when others answer, but a
 * member this host cannot reach is one failure away from an outage, so it counts as a FAIL.
 */
export async function checkEtcdMembers(endpoints: readonly string[], tls?: EtcdTls): Promise<CheckResult> {
  const answers = await Promise.all(endpoints.map(async (ep) => {
    try {
      const res = await getEtcdVersion(ep, tls);
      if (res.status !== 200) return { ep, error: `HTTP ${res.status}` };
      const body = JSON.parse(res.body) as { etcdserver?: string };
      return { ep, version: body.etcdserver ?? 'unknown version' };
    } catch (err) {
      return { ep, error: errorMessage(err) };
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
