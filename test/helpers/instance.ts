/**
 * Several checkouts may run the suites on one machine at once (one per git worktree). Each sets
 * TSO_TEST_ID to a digit 1-9 and then owns its own namespace prefix, etcd ports, leftover marker
 * and lab names, so one run's clean-up never kills another run's processes. Unset: the defaults.
 */
const raw = process.env.TSO_TEST_ID ?? '';
if (!/^[1-9]?$/.test(raw)) throw new Error(`TSO_TEST_ID must be a single digit 1-9 or unset, not "${raw}"`);

export const TEST_ID = raw;
/** First of the loopback ports this run's test etcds use (base .. base+9). */
export const TEST_PORT_BASE = 23790 + Number(raw || 0) * 100;
/** A name for something this run owns: `base` with the run's digit appended. */
export const owned = (base: string): string => `${base}${raw}`;
