import { describe, expect, it } from 'vitest';
import { copyPeerState, desiredPeers, diffDelta, diffPeers, patchPeerState, PeerTable, type PeerState } from '../../src/dataplane/peers.js';

const empty: PeerState = { unicast: new Map(), flood: new Set(), neighbours: new Map() };
const a = { id: 'ea', mac: '02:42:0a:00:00:02', ip: '10.0.0.2', vtep: '198.18.0.11' };
const b = { id: 'eb', mac: '02:42:0a:00:00:03', ip: '10.0.0.3', vtep: '198.18.0.12' };
const b2 = { id: 'eb2', mac: '02:42:0a:00:00:04', ip: '10.0.0.4', vtep: '198.18.0.12' };

describe('desiredPeers', () => {
  it('floods once per remote VTEP and maps every MAC and IP', () => {
    const d = desiredPeers([a, b, b2]);
    expect([...d.flood].sort()).toEqual(['198.18.0.11', '198.18.0.12']);
    expect(d.unicast.get(b2.mac)).toBe('198.18.0.12');
    expect(d.neighbours.get('10.0.0.2')).toBe(a.mac);
  });
});

describe('diffPeers', () => {
  it('adds everything to an empty device', () => {
    const changes = diffPeers('tsvx-1', empty, desiredPeers([a]));
    expect(changes.fdb).toEqual([
      `fdb replace ${a.mac} dev tsvx-1 dst ${a.vtep} self permanent`,
      `fdb append 00:00:00:00:00:00 dev tsvx-1 dst ${a.vtep} self permanent`,
    ]);
    expect(changes.neigh).toEqual([`neigh replace 10.0.0.2 lladdr ${a.mac} dev tsvx-1 nud permanent`]);
  });
  it('is empty when kernel and cluster agree', () => {
    const d = desiredPeers([a, b]);
    expect(diffPeers('tsvx-1', d, d).count).toBe(0);
  });
  it('removes what belongs to no endpoint, including the flood entry of a host that left', () => {
    const changes = diffPeers('tsvx-1', desiredPeers([a, b]), desiredPeers([a]));
    expect(changes.fdb).toEqual([`fdb del ${b.mac} dev tsvx-1 dst ${b.vtep} self`, `fdb del 00:00:00:00:00:00 dev tsvx-1 dst ${b.vtep} self`]);
    expect(changes.neigh).toEqual(['neigh del 10.0.0.3 dev tsvx-1']);
  });
  it('moves a MAC to its new VTEP with one replace', () => {
    const moved = { ...a, vtep: '198.18.0.12' };
    const changes = diffPeers('tsvx-1', desiredPeers([a, b]), desiredPeers([moved, b]));
    expect(changes.fdb).toContain(`fdb replace ${a.mac} dev tsvx-1 dst 198.18.0.12 self permanent`);
    expect(changes.fdb).toContain('fdb del 00:00:00:00:00:00 dev tsvx-1 dst 198.18.0.11 self');
    expect(changes.fdb.some((l) => l.startsWith(`fdb del ${a.mac}`))).toBe(false);
  });
});

describe('PeerTable', () => {
  it('gives the lines for just the entries a change touched, however large the network', () => {
    const table = new PeerTable();
    for (let i = 0; i < 1000; i++) table.set(`e${i}`, { mac: `02:42:0b:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, ip: `10.1.${i >> 8}.${i & 255}`, vtep: '198.18.0.12' });
    const programmed = copyPeerState(table.takeState());
    expect(programmed.unicast.size).toBe(1000);
    table.set('new', a);
    table.set('e5', undefined);
    const delta = table.takeDelta();
    expect(delta.unicast.size + delta.neighbours.size + delta.flood.size).toBe(6); // a's MAC, IP, VTEP and e5's
    expect(diffDelta('tsvx-1', programmed, delta).fdb).toEqual([
      'fdb del 02:42:0b:00:00:05 dev tsvx-1 dst 198.18.0.12 self',
      `fdb replace ${a.mac} dev tsvx-1 dst ${a.vtep} self permanent`,
      `fdb append 00:00:00:00:00:00 dev tsvx-1 dst ${a.vtep} self permanent`,
    ]);
    expect(table.takeDelta().unicast.size).toBe(0); // taken
    expect(table.set('new', { ...a })).toBe(false); // the same entry again changes nothing
  });

  it('ends where a full rebuild ends, through any order of arrivals, moves and departures (randomized)', () => {
    // Few MACs, addresses and VTEPs among many keys, so that entries are shared and contested.
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor((seed / 2 ** 31) * n)); // high bits: the low ones of this generator repeat quickly
    const table = new PeerTable();
    const current = new Map<string, { mac: string; ip: string; vtep: string }>();
    let programmed = copyPeerState(table.takeState());
    for (let step = 0; step < 5000; step++) {
      const key = `k${random(40)}`;
      const remote = random(4) === 0 ? undefined : { mac: `02:00:00:00:00:0${random(8)}`, ip: `10.0.0.${random(12)}`, vtep: `198.18.0.${10 + random(3)}` };
      table.set(key, remote);
      if (remote) current.set(key, remote);
      else current.delete(key);
      if (random(5) !== 0) continue;
      const delta = table.takeDelta();
      const fresh = new PeerTable(); // made in another order: which endpoint holds a shared entry must not depend on order
      for (const [k, r] of [...current].reverse()) fresh.set(k, r);
      const full = fresh.takeState();
      // The delta's lines are the full diff's, and programming them leaves the full state.
      expect(diffDelta('tsvx-1', programmed, delta).fdb.sort()).toEqual(diffPeers('tsvx-1', programmed, full).fdb.sort());
      expect(diffDelta('tsvx-1', programmed, delta).neigh.sort()).toEqual(diffPeers('tsvx-1', programmed, full).neigh.sort());
      patchPeerState(programmed, delta);
      expect(programmed).toEqual(copyPeerState(full));
      if (random(50) === 0) programmed = copyPeerState(table.takeState()); // a verify pass
    }
  });

  it('is the rule desiredPeers (ts-overlay status) follows: a shared entry goes to the greater ID, in any order', () => {
    const twin = { ...a, id: 'ez', vtep: '198.18.0.13' }; // a's MAC and address on another host
    for (const order of [[a, twin], [twin, a]]) {
      const d = desiredPeers(order);
      expect(d.unicast.get(a.mac)).toBe('198.18.0.13');
      expect([...d.flood].sort()).toEqual(['198.18.0.11', '198.18.0.13']);
      const table = new PeerTable();
      for (const r of order) table.set(r.id, r);
      expect(table.takeState()).toEqual(d);
    }
  });
});

describe('PeerTable.wants', () => {
  it('wants the entry of each remote MAC to its VTEP and flooding to each VTEP with endpoints, nothing else', () => {
    const table = new PeerTable();
    table.set(a.id, a);
    table.set(b.id, b);
    expect(table.wants(a.mac, a.vtep)).toBe(true);
    expect(table.wants(a.mac, b.vtep)).toBe(false); // the MAC is a's, at a's VTEP
    expect(table.wants('00:00:00:00:00:00', b.vtep)).toBe(true);
    expect(table.wants('00:00:00:00:00:00', '198.18.0.99')).toBe(false);
    table.set(b.id, undefined); // b removed: its entries are no longer wanted (their deletion is ours)
    expect(table.wants(b.mac, b.vtep)).toBe(false);
    expect(table.wants('00:00:00:00:00:00', b.vtep)).toBe(false);
  });
});
