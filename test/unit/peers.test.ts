import { describe, expect, it } from 'vitest';
import { desiredPeers, diffPeers, type PeerState } from '../../src/dataplane/peers.js';

const empty: PeerState = { unicast: new Map(), flood: new Set(), neighbours: new Map() };
const a = { mac: '02:42:0a:00:00:02', ip: '10.0.0.2', vtep: '198.18.0.11' };
const b = { mac: '02:42:0a:00:00:03', ip: '10.0.0.3', vtep: '198.18.0.12' };
const b2 = { mac: '02:42:0a:00:00:04', ip: '10.0.0.4', vtep: '198.18.0.12' };

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
