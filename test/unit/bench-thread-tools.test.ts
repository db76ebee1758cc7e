import { describe, expect, it } from 'vitest';
import { allocations, ownerOf } from '../../bench/alloc-summary.js';
import { parseSamples, processKind, windowTotals } from '../../bench/thread-cpu.js';

describe('bench/thread-cpu.ts', () => {
  it('tells the processes of a benchmark apart by their command lines', () => {
    expect(processKind('node --max-semi-space-size=4 /work/main/dist/main.js serve --socket /x/h2/bench.sock --node-name h2', 'node')).toBe('server h2 (ts-overlay)');
    expect(processKind('node --import tsx /work/main/bench/stack-floor-server.ts /s/cpf/h1/bench.sock http://x 0 2 kernel', 'node')).toBe('server h1 (floor)');
    expect(processKind('node /work/main/node_modules/.bin/tsx bench/stack-floor.ts', 'node')).toBe('load generator');
    expect(processKind('etcd --data-dir /x', 'etcd')).toBe('etcd');
    expect(processKind('ip -n cpf-h1 -batch -', 'ip')).toBe('ip processes');
    expect(processKind('', 'kworker/u8:5-events')).toBe('kernel threads');
  });

  it('puts each thread\'s time between two samples in the window of the later one, a server\'s main thread apart from its others', () => {
    const samples = parseSamples(
      [
        'P\t900000\t10\tserver h1 (ts-overlay)',
        'P\t900000\t20\tetcd',
        // µs, pid, tid, ns on a CPU, ns waiting for one
        'T\t1000000\t10\t10\t0\t0',
        'T\t1000000\t10\t11\t0\t0',
        'T\t1000000\t20\t20\t5000000\t0',
        'T\t1100000\t10\t10\t40000000\t30000000', // main: 40 ms ran, 30 ms waited, in window 0
        'T\t1100000\t10\t11\t10000000\t0', // a helper: 10 ms
        'T\t1300000\t20\t20\t25000000\t0', // etcd: 20 ms, in window 1 (250-500 ms)
        // pid 20 ended, and its number went to an `ip` process: a new process, its time so far in no window
        'P\t1350000\t20\tip processes',
        'T\t1400000\t20\t20\t3000000\t0',
        'T\t1450000\t20\t20\t7000000\t0', // ip: 4 ms, in window 1
        'T\t2000000\t10\t10\t90000000\t30000000', // past the last window: left out
      ].join('\n'),
    );
    const totals = windowTotals(samples, 1_000_000, 250, 2);
    expect(Object.fromEntries(totals[0]!)).toEqual({ 'server h1 (ts-overlay) main': { runMs: 40, waitMs: 30 }, 'server h1 (ts-overlay) helpers': { runMs: 10, waitMs: 0 } });
    expect(Object.fromEntries(totals[1]!)).toEqual({ etcd: { runMs: 20, waitMs: 0 }, 'ip processes': { runMs: 4, waitMs: 0 } });
  });
});

describe('bench/alloc-summary.ts', () => {
  interface Frame {
    callFrame: { functionName: string; url: string; lineNumber: number };
    selfSize: number;
    children: Frame[];
  }
  const frame = (functionName: string, url: string, selfSize: number, children: Frame[] = []): Frame => ({ callFrame: { functionName, url, lineNumber: 9 }, selfSize, children });

  it('names the package of a frame, ours by the folder of dist/ or src/', () => {
    expect(ownerOf('file:///work/main/node_modules/@grpc/grpc-js/build/src/call.js')).toBe('@grpc/grpc-js');
    expect(ownerOf('file:///work/main/dist/ipam/cidr.js')).toBe('ts-overlay:ipam');
    expect(ownerOf('file:///work/main/dist/app.js')).toBe('ts-overlay:app');
    expect(ownerOf('node:internal/streams/readable')).toBeUndefined();
  });

  it('counts what node\'s own code allocated to the package that called it', () => {
    const root = frame('(root)', '', 0, [
      frame('requestAddress', 'file:///r/dist/ipam/ipam-service.js', 100, [frame('exec', '', 50), frame('parse', 'file:///r/node_modules/ip-address/dist/a.js', 30)]),
      frame('emit', 'node:events', 7),
    ]);
    const { byFunction, byPackage } = allocations([root]);
    expect(Object.fromEntries(byPackage)).toEqual({ 'ts-overlay:ipam': 150, 'ip-address': 30, 'node itself': 7 });
    expect(byFunction.get('requestAddress (ts-overlay:ipam:10)')).toBe(100);
    expect(byFunction.get('exec (node, called from requestAddress in ts-overlay:ipam)')).toBe(50);
  });
});
