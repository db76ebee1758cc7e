import { goField, isPlainObject } from './docker-rules.js';
import { inPool, parseIPv4, parsePrefixed, type Prefixed } from './ipv4.js';

/**
 * What a successful reply must look like for the engine to use it (libnetwork's
 * drivers/remote and ipams/remote, docs/remote.md and docs/ipam.md). Each function returns
 * the problems found; an empty list means the shape is right. Fields are read as Go reads
 * them (goField), so a reply that works with dockerd passes here.
 */
type Problems = string[];

const SCOPES = ['local', 'global'];
const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

function nonEmptyString(body: unknown, field: string, problems: Problems, where = ''): string | undefined {
  const v = goField(body, field);
  if (typeof v === 'string' && v !== '') return v;
  problems.push(`${where}${field} must be a non-empty string (got ${JSON.stringify(v) ?? 'nothing'})`);
  return undefined;
}

/** A field Go decodes into a bool: absent or null is false, anything else but a bool fails. */
function optionalBoolean(body: unknown, field: string, problems: Problems): void {
  const v = goField(body, field);
  if (v !== undefined && v !== null && typeof v !== 'boolean') problems.push(`${field} must be a boolean (got ${JSON.stringify(v)})`);
}

/** A Go map[string]string: absent, null, or an object of strings. */
function optionalStringMap(body: unknown, field: string, problems: Problems): void {
  const v = goField(body, field);
  if (v === undefined || v === null) return;
  if (!isPlainObject(v) || Object.values(v).some((x) => typeof x !== 'string')) problems.push(`${field} must be an object of strings (got ${JSON.stringify(v)})`);
}

export function activateProblems(body: unknown): Problems {
  const implementsList = goField(body, 'Implements');
  if (!Array.isArray(implementsList) || implementsList.some((x) => typeof x !== 'string')) {
    return [`Implements must be a list of strings (got ${JSON.stringify(implementsList) ?? 'nothing'})`];
  }
  return [];
}

export function networkCapabilitiesProblems(body: unknown): Problems {
  const problems: Problems = [];
  const scope = goField(body, 'Scope');
  if (typeof scope !== 'string' || !SCOPES.includes(scope)) problems.push(`Scope must be "local" or "global" (got ${JSON.stringify(scope) ?? 'nothing'})`);
  // Go's zero value "" means "not said"; anything said must be a scope.
  const connectivity = goField(body, 'ConnectivityScope');
  if (connectivity !== undefined && connectivity !== null && connectivity !== '' && (typeof connectivity !== 'string' || !SCOPES.includes(connectivity))) {
    problems.push(`ConnectivityScope, when given, must be "local" or "global" (got ${JSON.stringify(connectivity)})`);
  }
  return problems;
}

export function ipamCapabilitiesProblems(body: unknown): Problems {
  const problems: Problems = [];
  optionalBoolean(body, 'RequiresMACAddress', problems);
  optionalBoolean(body, 'RequiresRequestReplay', problems);
  return problems;
}

export function addressSpacesProblems(body: unknown): Problems {
  const problems: Problems = [];
  nonEmptyString(body, 'LocalDefaultAddressSpace', problems);
  nonEmptyString(body, 'GlobalDefaultAddressSpace', problems);
  return problems;
}

/** The pool ID comes back even when the rest is wrong, so that the pool can be released. */
export function requestPoolProblems(body: unknown): { problems: Problems; poolId?: string; pool?: Prefixed; poolText?: string } {
  const problems: Problems = [];
  const poolId = nonEmptyString(body, 'PoolID', problems);
  const poolText = goField(body, 'Pool');
  const pool = typeof poolText === 'string' ? parsePrefixed(poolText) : undefined;
  if (!pool) problems.push(`Pool must be an IPv4 CIDR such as 10.0.0.0/24 (got ${JSON.stringify(poolText) ?? 'nothing'})`);
  optionalStringMap(body, 'Data', problems);
  return { problems, ...(poolId ? { poolId } : {}), ...(pool ? { pool, poolText: poolText as string } : {}) };
}

/** The address must carry the pool's prefix length: the engine gives it to the container as is. */
export function requestAddressProblems(body: unknown, pool: Prefixed, poolText: string): { problems: Problems; address?: string } {
  const problems: Problems = [];
  const text = goField(body, 'Address');
  const addr = typeof text === 'string' ? parsePrefixed(text) : undefined;
  if (!addr) problems.push(`Address must be an IPv4 address with prefix such as 10.0.0.2/24 (got ${JSON.stringify(text) ?? 'nothing'})`);
  else if (!inPool(pool, addr.ip)) problems.push(`Address ${String(text)} is outside the pool ${poolText}`);
  else if (addr.prefix !== pool.prefix) problems.push(`Address ${String(text)} has prefix /${addr.prefix}, the pool ${poolText} has /${pool.prefix}`);
  optionalStringMap(body, 'Data', problems);
  // Handed back even when wrong, so that whatever the plugin reserved can be released.
  return typeof text === 'string' && text !== '' ? { problems, address: text } : { problems };
}

/**
 * The engine accepts an Interface only as far as it fills what the request left empty: a value
 * the engine already chose and the plugin changes makes it roll the endpoint back.
 */
export function createEndpointProblems(body: unknown, sent: { Address: string; AddressIPv6: string; MacAddress: string }): Problems {
  const iface = goField(body, 'Interface');
  if (iface === undefined || iface === null) return []; // the plugin set nothing: fine
  if (!isPlainObject(iface)) return [`Interface must be an object (got ${JSON.stringify(iface)})`];
  const problems: Problems = [];
  for (const field of ['Address', 'AddressIPv6', 'MacAddress'] as const) {
    const v = goField(iface, field);
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') problems.push(`Interface.${field} must be a string (got ${JSON.stringify(v)})`);
    else if (sent[field] !== '') problems.push(`Interface.${field} is "${v}" but the request already set it to "${sent[field]}" (the engine rolls back)`);
    else if (field === 'MacAddress' && !MAC.test(v)) problems.push(`Interface.MacAddress "${v}" is not a MAC address`);
    else if (field === 'Address' && !parsePrefixed(v)) problems.push(`Interface.Address "${v}" is not an IPv4 address with prefix`);
  }
  return problems;
}

export function joinProblems(body: unknown): Problems {
  const problems: Problems = [];
  const names = goField(body, 'InterfaceName');
  if (!isPlainObject(names)) {
    problems.push(`InterfaceName must be an object naming the interface to move into the container (got ${JSON.stringify(names) ?? 'nothing'})`);
  } else {
    nonEmptyString(names, 'SrcName', problems, 'InterfaceName.');
    nonEmptyString(names, 'DstPrefix', problems, 'InterfaceName.');
  }
  const gateway = goField(body, 'Gateway');
  if (gateway !== undefined && gateway !== null && gateway !== '' && (typeof gateway !== 'string' || parseIPv4(gateway) === undefined)) {
    problems.push(`Gateway, when given, must be an IPv4 address without prefix (got ${JSON.stringify(gateway)})`);
  }
  const routes = goField(body, 'StaticRoutes');
  if (routes !== undefined && routes !== null) {
    if (!Array.isArray(routes)) problems.push(`StaticRoutes must be a list (got ${JSON.stringify(routes)})`);
    else routes.forEach((r, i) => problems.push(...staticRouteProblems(r, i)));
  }
  optionalBoolean(body, 'DisableGatewayService', problems);
  return problems;
}

/** RouteType 0 goes via NextHop, 1 is a connected route without one (docs/remote.md). */
function staticRouteProblems(route: unknown, i: number): Problems {
  const destination = goField(route, 'Destination');
  const type = goField(route, 'RouteType');
  const nextHop = goField(route, 'NextHop');
  const problems: Problems = [];
  if (typeof destination !== 'string' || !parsePrefixed(destination)) problems.push(`StaticRoutes[${i}].Destination must be an IPv4 CIDR`);
  if (type !== 0 && type !== 1) problems.push(`StaticRoutes[${i}].RouteType must be 0 (via NextHop) or 1 (connected)`);
  if (type === 0 && (typeof nextHop !== 'string' || parseIPv4(nextHop) === undefined)) problems.push(`StaticRoutes[${i}].NextHop must be an IPv4 address for RouteType 0`);
  return problems;
}

export function operInfoProblems(body: unknown): Problems {
  const value = goField(body, 'Value');
  return isPlainObject(value) ? [] : [`Value must be an object (got ${JSON.stringify(value) ?? 'nothing'})`];
}
