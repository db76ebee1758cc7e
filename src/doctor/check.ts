import { errorMessage } from '../lib/errors.js';

/** One doctor finding: what was checked, what was found, and on failure how to fix it. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
}

export const pass = (name: string, detail: string): CheckResult => ({ name, ok: true, detail });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, ok: false, detail, fix });

/** A check that throws has failed: the error is what it found. */
export async function runCheck(name: string, check: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await check();
  } catch (err) {
    return fail(name, `could not check: ${errorMessage(err)}`, 'see the error; the doctor needs root and iproute2 (ip, ss) on this host');
  }
}
