import { randomBytes, randomInt } from 'node:crypto';
import type { Runner } from '../dataplane/runner.js';
import { errorMessage } from '../lib/errors.js';
import { type CheckResult, fail, pass } from './check.js';

const NAME = 'kernel VXLAN';
/** The doctor's throwaway devices: other checks (and a concurrent doctor) must ignore them. */
export const DOCTOR_DEVICE_PREFIX = 'tsdoc-';

/**
 * Makes a throwaway VXLAN device with a macvlan on it and deletes both again: the one sure test that this kernel
 * (and these privileges) can do what the plugin does. The device is never brought up, so it
 * binds no port and carries nothing. Its name, tsdoc-<random>, matches none of the plugin's
 * prefixes (tsvx-, tsh-, tsc-, nor tsbr- and tsv- of earlier builds), so a running plugin neither adopts nor repairs it.
 */
export async function checkKernelVxlan(run: Runner, port: number): Promise<CheckResult> {
  const dev = `${DOCTOR_DEVICE_PREFIX}${randomBytes(3).toString('hex')}`;
  for (let attempt = 0; ; attempt++) {
    const vni = randomInt(1, 1 << 24);
    try {
      await run.ip(['link', 'add', dev, 'type', 'vxlan', 'id', String(vni), 'dstport', String(port), 'nolearning']);
    } catch (err) {
      const message = errorMessage(err);
      // Another device already uses this VNI on this port: try another VNI.
      if (/exists/i.test(message) && attempt < 3) continue;
      return failure(message);
    }
    // The interfaces on a network are macvlans on its VXLAN device: the kernel must make those too.
    const macvlan = await run.ip(['link', 'add', `${dev}m`, 'link', dev, 'type', 'macvlan', 'mode', 'bridge']).then(() => undefined, (err: unknown) => errorMessage(err));
    try {
      await run.ip(['link', 'del', dev]); // takes the macvlan with it
    } catch (err) {
      return fail(NAME, `created test device ${dev} but could not delete it: ${errorMessage(err)}`, `ip link del ${dev}`);
    }
    if (macvlan !== undefined) {
      return fail(NAME, `this kernel made a VXLAN device but no macvlan on it: ${macvlan}`, 'load the module (modprobe macvlan); the kernel needs CONFIG_MACVLAN');
    }
    return pass(NAME, `created and deleted a VXLAN device with a macvlan on it (${dev}, VNI ${vni}, UDP ${port})`);
  }
}

function failure(message: string): CheckResult {
  if (/not permitted|permission denied/i.test(message)) {
    return fail(NAME, `not allowed to create network devices: ${message}`, 'run the doctor (and the plugin) as root, or with CAP_NET_ADMIN');
  }
  if (/unknown device type|not supported|no such device/i.test(message)) {
    return fail(NAME, `this kernel cannot make VXLAN devices: ${message}`, 'load the module (modprobe vxlan); the kernel needs CONFIG_VXLAN');
  }
  return fail(NAME, `could not create a VXLAN device: ${message}`, 'check the kernel log (dmesg) and that iproute2 is installed');
}
