import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { profileWindows } from '../../bench/profile-windows.js';
import { methodSplit, parseTimeline, timelineWindows, writeTimeline } from '../../bench/timeline-windows.js';

const HEADER = 'host\tmethod\tstartMs\tms\tnewConnection';

describe("a control-plane phase's timeline in windows", () => {
  const text = [
    HEADER,
    '1\tIpamDriver.RequestAddress\t0.00\t2.10\t0',
    '2\tNetworkDriver.Join\t10.50\t75.00\t1',
    '1\tNetworkDriver.Join\t240.00\t61.00\t0',
    '1\tIpamDriver.RequestAddress\t250.00\t90.00\t0',
    '1\tNetworkDriver.CreateEndpoint\t499.99\t60.00\t0',
  ].join('\n');

  it('counts the calls started in each window per host, and the ones over the bound by method', () => {
    expect(timelineWindows(parseTimeline(text), 250, 60)).toEqual([
      { host: 1, fromMs: 0, calls: 2, slow: { Join: 1 }, slowestMs: 61 },
      // 60 ms is not over 60 ms.
      { host: 1, fromMs: 250, calls: 2, slow: { RequestAddress: 1 }, slowestMs: 90 },
      { host: 2, fromMs: 0, calls: 1, slow: { Join: 1 }, slowestMs: 75 },
    ]);
  });

  it('splits the phase by method: calls that opened a connection, calls over the bound and which of those had, the first window\'s mean', () => {
    expect(methodSplit(parseTimeline(text), 250, 60)).toEqual({
      RequestAddress: { calls: 2, opened: 0, over: 1, overOpened: 0, first: 1, firstOpened: 0, firstMeanMs: 2.1 },
      Join: { calls: 2, opened: 1, over: 2, overOpened: 1, first: 2, firstOpened: 1, firstMeanMs: 68 },
      CreateEndpoint: { calls: 1, opened: 0, over: 0, overOpened: 0, first: 0, firstOpened: 0, firstMeanMs: 0 },
    });
  });

  it('reads back what a benchmark wrote: hosts in client order, calls in start order, from the first call on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tso-timeline-'));
    try {
      const call = (method: string, started: number, ms: number, newConnection = false) => ({ method, started, ms, newConnection });
      writeTimeline(dir, 'phase', [
        { timeline: [call('NetworkDriver.Join', 1010, 4), call('IpamDriver.RequestAddress', 1000, 2.5)] },
        { timeline: [call('IpamDriver.RequestAddress', 1005.25, 70, true)] },
      ]);
      const text = readFileSync(join(dir, 'phase.tsv'), 'utf8');
      expect(text.split('\n')[3]).toBe('1\tNetworkDriver.Join\t10.00\t4.00\t0');
      expect(parseTimeline(text)).toEqual([
        { host: 1, method: 'IpamDriver.RequestAddress', startMs: 0, ms: 2.5, newConnection: false },
        { host: 2, method: 'IpamDriver.RequestAddress', startMs: 5.25, ms: 70, newConnection: true },
        { host: 1, method: 'NetworkDriver.Join', startMs: 10, ms: 4, newConnection: false },
      ]);
      expect(JSON.parse(readFileSync(join(dir, 'phase.origin.json'), 'utf8'))).toEqual({ monotonicUs: expect.any(Number) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what is not a timeline, and a line it cannot read', () => {
    expect(() => parseTimeline('a\tb\n1\t2')).toThrow(/not a control-plane timeline/);
    expect(() => parseTimeline(`${HEADER}\n1\tNetworkDriver.Join\tsoon\t3\t0`)).toThrow(/not a timeline line/);
    expect(() => parseTimeline(`${HEADER}\n1\tNetworkDriver.Join\t1\t3`)).toThrow(/not a timeline line/);
  });
});

describe("a plugin's V8 profile in the windows of a phase", () => {
  it('splits each window into JavaScript, GC, V8, idle and not run (a gap between samples beyond the 1 ms interval)', () => {
    const profile = {
      startTime: 1000, // µs on the monotonic clock
      nodes: [{ id: 2, callFrame: { functionName: 'handle' } }, { id: 3, callFrame: { functionName: '(garbage collector)' } }, { id: 4, callFrame: { functionName: '(idle)' } }],
      samples: [2, 2, 2, 2, 3, 4],
      timeDeltas: [1000, 1000, 1000, 5000, 1000, 1000], // the fourth sample came 5 ms after the third: 4 ms not run
    };
    expect(profileWindows(profile, 1000, 5, 2)).toEqual([
      { javascript: 3, gc: 0, program: 0, idle: 0, notRun: 2 },
      { javascript: 1, gc: 1, program: 0, idle: 1, notRun: 2 },
    ]);
    // From 9 ms on (the GC sample's interval): what came before counts nowhere.
    expect(profileWindows(profile, 9000, 5, 1)).toEqual([{ javascript: 0, gc: 1, program: 0, idle: 1, notRun: 0 }]);
  });
});
