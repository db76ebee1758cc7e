import type { Reply } from './client.js';

/**
 * How dockerd judges a reply, so that the kit sees exactly what an engine would see.
 *
 * - Anything but 200 is a failure (moby pkg/plugins/client.go), whatever the body says.
 * - A 200 body is decoded into a Go struct: it must be JSON, and a JSON value that is not an
 *   object (or null) fails decoding. Go matches keys case-insensitively, the last key wins.
 * - The error field differs by API: NetworkDriver replies carry "Err" (drivers/remote/api),
 *   IpamDriver replies carry "Error" (ipams/remote/api). The engine reads only that one field,
 *   so an IPAM failure under "Err" alone passes for success.
 */
export type ApiGroup = 'NetworkDriver' | 'IpamDriver' | 'Plugin';

export function groupOf(path: string): ApiGroup {
  if (path.startsWith('/IpamDriver.')) return 'IpamDriver';
  if (path.startsWith('/NetworkDriver.')) return 'NetworkDriver';
  return 'Plugin';
}

/** Plugin.Activate's reply (a manifest) has no error field: only its status counts. */
export function errorFieldOf(group: ApiGroup): 'Err' | 'Error' | undefined {
  if (group === 'Plugin') return undefined;
  return group === 'IpamDriver' ? 'Error' : 'Err';
}

export type Verdict =
  | { readonly success: true; readonly body: Record<string, unknown> }
  | { readonly success: false; readonly reason: string; readonly answered: boolean };

/** Success or failure of one call, by the engine's rules. */
export function judge(path: string, reply: Reply): Verdict {
  if (reply.status === 0) return { success: false, answered: false, reason: `no HTTP answer: ${reply.transportError ?? 'connection failed'}` };
  if (reply.status !== 200) return { success: false, answered: true, reason: `HTTP ${reply.status}` };
  if (reply.json === undefined) return { success: false, answered: true, reason: 'a 200 reply whose body is not JSON (the engine fails to decode it)' };
  if (reply.json !== null && (typeof reply.json !== 'object' || Array.isArray(reply.json))) {
    return { success: false, answered: true, reason: 'a 200 reply whose body is not a JSON object (the engine fails to decode it)' };
  }
  const body = (reply.json ?? {}) as Record<string, unknown>;
  const field = errorFieldOf(groupOf(path));
  const error = field === undefined ? undefined : goField(body, field);
  if (error === undefined || error === null || error === '') return { success: true, body };
  if (typeof error !== 'string') return { success: false, answered: true, reason: `${field} is not a string (the engine fails to decode it)` };
  return { success: false, answered: true, reason: `${field}: ${error}` };
}

/** A field as Go's encoding/json finds it: case-insensitive key match, last one wins. */
export function goField(obj: unknown, name: string): unknown {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const wanted = name.toLowerCase();
  let found: unknown;
  for (const [key, value] of Object.entries(obj)) if (key.toLowerCase() === wanted) found = value;
  return found;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Why a reply that looks like an error passed for success: an IPAM reply with "Err" but no
 * "Error". Empty when there is nothing to explain.
 */
export function misplacedErrorNote(path: string, body: unknown): string {
  if (groupOf(path) !== 'IpamDriver') return '';
  const err = goField(body, 'Err');
  return typeof err === 'string' && err !== '' ? ' (the reply names its error under "Err" only; from an IPAM reply the engine reads "Error", so it sees success)' : '';
}
