import { beforeAll, describe, expect, it } from 'vitest';
import { docker, dockerOk, networkNames, resetLab, runBusybox, waitFor } from '../helpers/lab.js';

/**
 * An address that moves from one host to another (a container removed on host 1, one with the
 * same --ip started on host 2) is reachable at once, even while its new container has sent
 * nothing. Found by the benchmark's convergence run followed by an iperf3 server on a reused
 * address, when each network had a bridge: host 2's bridge had learned the address's MAC on
 * the VXLAN port while it lived on host 1, and dropped the traffic until that entry aged out
 * (300 s). The macvlans that replaced the bridge learn nothing (a macvlan is found by the MAC
 * it was made with); the test keeps that so, whatever the data path becomes.
 */
beforeAll(() => resetLab());

describe('an address moving between hosts', () => {
  it('is reachable on its new host before its container has sent a frame', async () => {
    await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', '10.88.0.0/24', 'move');
    await waitFor('move on host 2', async () => (await networkNames(2)).includes('move'), 10_000);
    await runBusybox(1, 'pinger', '--net', 'move', '--ip', '10.88.0.10');
    await runBusybox(1, 'mover', '--net', 'move', '--ip', '10.88.0.20');
    // A broadcast from mover reaches host 2 (a bridge there would learn mover's MAC from it).
    await runBusybox(2, 'witness', '--net', 'move', '--ip', '10.88.0.30');
    expect(await dockerOk(1, 'exec', 'mover', 'ping', '-c', '2', '-W', '1', '10.88.0.30')).toMatch(/2 packets received/);
    await dockerOk(1, 'rm', '-f', 'mover');

    // The same address on host 2, in a container that only sleeps (never sends).
    await dockerOk(2, 'run', '-d', '--name', 'moved', '--net', 'move', '--ip', '10.88.0.20', 'busybox', 'sleep', '3600');
    // Seconds at most, where the bug this guards against took the bridge's 300 s ageing.
    await waitFor('pinger reaches moved', async () => (await docker(1, 'exec', 'pinger', 'ping', '-c', '1', '-W', '1', '10.88.0.20')).ok, 5000, 100);
    const ping = await docker(1, 'exec', 'pinger', 'ping', '-c', '3', '-W', '1', '10.88.0.20');
    expect(ping.stdout).toMatch(/3 packets received/);
    await resetLab();
  });
});
