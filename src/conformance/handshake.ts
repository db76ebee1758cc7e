import { describeExchange, type PluginClient } from './client.js';
import { goField, judge } from './docker-rules.js';
import { activateProblems, addressSpacesProblems, ipamCapabilitiesProblems, networkCapabilitiesProblems } from './reply-shapes.js';
import type { CheckLog } from './results.js';

/** Which API groups the plugin serves, as its Plugin.Activate reply says. */
export interface Roles {
  readonly network: boolean;
  readonly ipam: boolean;
}

/** What the engine learns at registration and uses later on. */
export interface IpamFacts {
  readonly localAddressSpace?: string;
  readonly requiresMacAddress: boolean;
}

/** Plugin.Activate, the first call: its Implements list decides which groups are tested. */
export async function checkActivate(client: PluginClient, log: CheckLog): Promise<Roles | undefined> {
  const x = await client.call('/Plugin.Activate');
  const verdict = judge(x.path, x.reply);
  if (!verdict.success) {
    log.fail('activate', `${verdict.reason}: ${describeExchange(x)}`);
    return undefined;
  }
  const problems = activateProblems(verdict.body);
  const list = (goField(verdict.body, 'Implements') ?? []) as unknown[];
  const roles = { network: list.includes('NetworkDriver'), ipam: list.includes('IpamDriver') };
  if (problems.length === 0 && !roles.network && !roles.ipam) problems.push('Implements names neither NetworkDriver nor IpamDriver');
  log.verdict('activate', problems.map((p) => `${p}: ${describeExchange(x)}`), `implements ${list.join(', ')}`);
  return problems.length === 0 ? roles : undefined;
}

/** Asked again after bad requests: a plugin that died or hangs fails the engine from then on. */
export async function stillAnswers(client: PluginClient): Promise<string | undefined> {
  const x = await client.call('/Plugin.Activate');
  const verdict = judge(x.path, x.reply);
  if (!verdict.success) return `Plugin.Activate no longer succeeds: ${describeExchange(x)}`;
  const problems = activateProblems(verdict.body);
  return problems.length > 0 ? `Plugin.Activate answers oddly: ${problems.join('; ')}` : undefined;
}

export async function checkNetworkCapabilities(client: PluginClient, log: CheckLog): Promise<void> {
  const x = await client.call('/NetworkDriver.GetCapabilities');
  const verdict = judge(x.path, x.reply);
  if (!verdict.success) return log.fail('network.capabilities', `${verdict.reason}: ${describeExchange(x)}`);
  const problems = networkCapabilitiesProblems(verdict.body);
  const scopes = `Scope ${String(goField(verdict.body, 'Scope'))}, ConnectivityScope ${String(goField(verdict.body, 'ConnectivityScope') ?? '(not given)')}`;
  log.verdict('network.capabilities', problems.map((p) => `${p}: ${describeExchange(x)}`), scopes);
}

export async function checkIpamCapabilities(client: PluginClient, log: CheckLog): Promise<IpamFacts> {
  let requiresMacAddress = false;
  const caps = await client.call('/IpamDriver.GetCapabilities');
  const capsVerdict = judge(caps.path, caps.reply);
  if (caps.reply.status === 404) {
    // docs/ipam.md: the call is optional; the engine then assumes no capabilities.
    log.pass('ipam.capabilities', 'not implemented (404): the engine assumes no capabilities');
  } else if (!capsVerdict.success) {
    log.fail('ipam.capabilities', `${capsVerdict.reason}: ${describeExchange(caps)}`);
  } else {
    const problems = ipamCapabilitiesProblems(capsVerdict.body);
    requiresMacAddress = goField(capsVerdict.body, 'RequiresMACAddress') === true;
    const summary = `RequiresMACAddress ${requiresMacAddress}, RequiresRequestReplay ${goField(capsVerdict.body, 'RequiresRequestReplay') === true}`;
    log.verdict('ipam.capabilities', problems.map((p) => `${p}: ${describeExchange(caps)}`), summary);
  }

  const spaces = await client.call('/IpamDriver.GetDefaultAddressSpaces');
  const verdict = judge(spaces.path, spaces.reply);
  if (!verdict.success) {
    log.fail('ipam.default-address-spaces', `${verdict.reason}: ${describeExchange(spaces)}`);
    return { requiresMacAddress };
  }
  const problems = addressSpacesProblems(verdict.body);
  const local = goField(verdict.body, 'LocalDefaultAddressSpace');
  const global = goField(verdict.body, 'GlobalDefaultAddressSpace');
  log.verdict('ipam.default-address-spaces', problems.map((p) => `${p}: ${describeExchange(spaces)}`), `local "${String(local)}", global "${String(global)}"`);
  return typeof local === 'string' && local !== '' ? { localAddressSpace: local, requiresMacAddress } : { requiresMacAddress };
}
