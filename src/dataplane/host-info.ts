import { internal } from '../lib/errors.js';
import type { Runner } from './runner.js';

interface AddrInfo { ifname: string; mtu: number; addr_info: Array<{ family: string; local: string }> }
interface Route { dev?: string }

/** The IPv4 address of the interface that carries the default route: our VTEP by default. */
export async function defaultRouteAddress(run: Runner): Promise<string> {
  const routes = await run.ipJson<Route>(['-4', 'route', 'show', 'default']);
  const dev = routes.find((r) => r.dev)?.dev;
  if (!dev) throw internal('no IPv4 default route: give --advertise-addr');
  const [link] = await run.ipJson<AddrInfo>(['-4', 'addr', 'show', 'dev', dev]);
  const local = link?.addr_info.find((a) => a.family === 'inet')?.local;
  if (!local) throw internal(`interface ${dev} of the default route has no IPv4 address: give --advertise-addr`);
  return local;
}

/** MTU of the interface holding `address`, which VXLAN packets leave by. */
export async function underlayMtu(run: Runner, address: string): Promise<number> {
  const links = await run.ipJson<AddrInfo>(['-4', 'addr', 'show']);
  const link = links.find((l) => l.addr_info.some((a) => a.local === address));
  if (!link) throw internal(`no interface holds the advertise address ${address}`);
  return link.mtu;
}

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers. */
export const VXLAN_OVERHEAD = 50;
