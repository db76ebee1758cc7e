import { writeSync } from 'node:fs';

/**
 * Named places between two side effects (an etcd write, a kernel change, an engine API call)
 * where a fault test can have the plugin die, as a power cut or `kill -9` would:
 * TS_OVERLAY_CRASH_AT=<point>[:<nth>] makes the process SIGKILL itself the nth time (default:
 * the first) it passes <point>. Unset, as it always is in production, crashPoint() is one
 * comparison against undefined. The names are the catalog below, so a test can try them all
 * and a unit test can check that each is placed in the code.
 */
export const CRASH_POINTS = [
  // IPAM (the engine's RequestPool, RequestAddress; a host's copy of a cluster network)
  'ipam.pool-created', // pool written, RequestPool not answered
  'ipam.pool-joined', // this host added to a cluster network's pool, not answered
  'ipam.address-claimed', // address written, RequestAddress not answered
  // CreateNetwork
  'create-network.aux-marked', // aux addresses relabelled, no network record yet
  'create-network.record-created', // network record and VNI written, no devices yet
  'create-network.links-made', // VXLAN device and host port made, CreateNetwork not answered
  'create-network.devices-made', // devices made, this host's copy not recorded
  'create-network.copy-recorded', // copy recorded, CreateNetwork not answered
  // CreateEndpoint and Join
  'create-endpoint.published', // endpoint written (CreateEndpoint started it), Join not answered or not sent yet
  'join.port-made', // endpoint's interface made, Join not answered
  // DeleteEndpoint, DeleteNetwork
  'delete-endpoint.port-deleted', // interface gone, endpoint still in etcd
  'delete-network.devices-deleted', // devices gone, copy still recorded
  'delete-network.copy-deleted', // copy gone, cluster record not yet looked at
  // Propagation (the engine API), and peers
  'propagation.name-published', // name written to the cluster record
  'propagation.copy-requested', // about to ask this host's engine for a copy
  'propagation.copy-created', // the engine made the copy
  'peers.programmed', // one network's FDB/neighbour entries changed
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

export const CRASH_ENV = 'TS_OVERLAY_CRASH_AT';

/** The point and the pass to die at; undefined when the variable is unset or names no point. */
export function parseCrashSpec(raw: string | undefined): { point: CrashPoint; nth: number } | undefined {
  if (!raw) return undefined;
  const [point, nth = '1'] = raw.split(':');
  if (!(CRASH_POINTS as readonly string[]).includes(point!) || !/^[1-9]\d*$/.test(nth)) {
    throw new Error(`${CRASH_ENV}="${raw}" must be <point>[:<nth>] with a point of: ${CRASH_POINTS.join(', ')}`);
  }
  return { point: point as CrashPoint, nth: Number(nth) };
}

const spec = parseCrashSpec(process.env[CRASH_ENV]);
let passes = 0;

export function crashPoint(point: CrashPoint): void {
  if (spec === undefined || point !== spec.point) return;
  if (++passes < spec.nth) return;
  // Written synchronously, so the test can tell this crash from any other way of dying.
  writeSync(2, `\n${CRASH_ENV}: crashing at ${point} (pass ${passes})\n`);
  process.kill(process.pid, 'SIGKILL');
}
