import { E2E_ETCD_MEMBERS, lab } from '../helpers/lab.js';

/**
 * Brings up the e2e lab (2 hosts, each a real dockerd and a ts-overlay; a 3-member etcd) once for
 * the suite, and tears it down after. `lab up` removes leftovers of a killed earlier run first.
 */
export default async function setup() {
  const up = await lab('up', '--hosts', '2', '--etcd', String(E2E_ETCD_MEMBERS));
  if (!up.ok) {
    await lab('down');
    throw new Error(`lab up failed:\n${up.stdout}\n${up.stderr}`);
  }
  return async () => {
    if (process.env.TSO_KEEP_LAB) return; // for debugging a failed run
    const down = await lab('down');
    if (!down.ok) throw new Error(`lab down failed: ${down.stderr}`);
  };
}
