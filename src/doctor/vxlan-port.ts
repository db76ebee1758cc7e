import { execa } from 'execa';
import type { Runner } from '../dataplane/runner.js';
import { vniOfDevice } from '../dataplane/names.js';
import { type CheckResult, fail, pass } from './check.js';
import { DOCTOR_DEVICE_PREFIX } from './kernel-vxlan.js';

const NAME = 'VXLAN port';

export interface UdpSocket {
  readonly local: string;
  /** Programs holding it; none means the kernel's own socket (a VXLAN device's). */
  readonly holders: readonly string[];
}

/** Parses `ss -H -u -a -n -p` lines: `UNCONN 0 0 0.0.0.0:4789 0.0.0.0:* users:(("node",pid=5,fd=18))`. */
export function parseSs(output: string): UdpSocket[] {
  return output.split('\n').filter((l) => l.trim()).map((line) => {
    const local = line.trim().split(/\s+/)[3] ?? '?';
    const holders = [...line.matchAll(/\("([^"]*)",pid=(\d+)/g)].map((m) => `${m[1]} (pid ${m[2]})`);
    return { local, holders };
  });
}

/** UDP sockets on `port` in the runner's namespace. ss finds their programs; root sees all. */
async function udpSockets(run: Runner, port: number): Promise<UdpSocket[]> {
  const ns = run.netns ? ['-N', run.netns] : [];
  const res = await execa('ss', [...ns, '-H', '-u', '-a', '-n', '-p', `sport = :${port}`], { reject: false });
  if (res.exitCode !== 0) throw new Error(`ss failed: ${res.stderr.trim() || `exit ${res.exitCode}`}`);
  return parseSs(res.stdout);
}

interface VxlanJson { ifname: string; flags?: string[]; linkinfo?: { info_data?: { id?: number; port?: number } } }

export interface PortFacts {
  readonly port: number;
  readonly sockets: readonly UdpSocket[];
  readonly devices: ReadonlyArray<{ name: string; vni: number; port: number; up: boolean }>;
  /** VNI -> network name, for every ts-overlay network in etcd. */
  readonly clusterVnis: ReadonlyMap<number, string>;
}

/**
 * The VXLAN port is as expected when no program holds it (the kernel could not open the
 * VXLAN socket, "Address already in use"), every ts-overlay device uses it and, when one is
 * up, the kernel's socket is there; and no other VXLAN device takes a VNI of ours on it.
 */
export function judgePort(f: PortFacts): CheckResult {
  const held = f.sockets.flatMap((s) => s.holders);
  if (held.length) {
    return fail(NAME, `UDP ${f.port} is held by ${[...new Set(held)].join(', ')}: VXLAN devices cannot receive there`, `stop that program, or move every host to another port with --vxlan-port`);
  }
  const ours = f.devices.filter((d) => vniOfDevice(d.name) !== undefined);
  const wrongPort = ours.filter((d) => d.port !== f.port);
  if (wrongPort.length) {
    return fail(NAME, `${wrongPort.map((d) => `${d.name} uses UDP ${d.port}`).join(', ')}, but --vxlan-port is ${f.port}`, 'run every host\'s plugin with the same --vxlan-port; the plugin re-creates its devices on start');
  }
  const up = ours.filter((d) => d.up);
  if (up.length && f.sockets.length === 0) {
    return fail(NAME, `${up.length} ts-overlay VXLAN device(s) are up but no socket is bound to UDP ${f.port}`, 'restart the plugin, which re-creates its devices; check dmesg for vxlan errors');
  }
  const clashes = f.devices.filter((d) => !ours.includes(d) && d.port === f.port && f.clusterVnis.has(d.vni));
  if (clashes.length) {
    return fail(NAME, clashes.map((d) => `${d.name} (not ts-overlay's) uses VNI ${d.vni} on UDP ${f.port}, which network ${f.clusterVnis.get(d.vni)} needs`).join('; '), 'remove that device, or give the ts-overlay network another VNI');
  }
  const shared = f.devices.filter((d) => !ours.includes(d) && d.port === f.port).map((d) => d.name);
  const note = shared.length ? `; shared with ${shared.join(', ')} (other VNIs)` : '';
  return pass(NAME, up.length ? `UDP ${f.port} is bound by the kernel for ${up.length} ts-overlay VXLAN device(s)${note}` : `UDP ${f.port} is free for VXLAN (no ts-overlay device is up here yet)${note}`);
}

export async function checkVxlanPort(run: Runner, port: number, clusterVnis: ReadonlyMap<number, string>): Promise<CheckResult> {
  const [sockets, links] = await Promise.all([udpSockets(run, port), run.ipJson<VxlanJson>(['-d', 'link', 'show', 'type', 'vxlan'])]);
  const devices = links.filter((l) => !l.ifname.startsWith(DOCTOR_DEVICE_PREFIX)).map((l) => ({
    name: l.ifname,
    vni: l.linkinfo?.info_data?.id ?? -1,
    port: l.linkinfo?.info_data?.port ?? -1,
    up: l.flags?.includes('UP') ?? false,
  }));
  return judgePort({ port, sockets, devices, clusterVnis });
}
