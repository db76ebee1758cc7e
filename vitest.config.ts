import { defineConfig } from 'vitest/config';

/**
 * Four projects, from fastest to most real:
 *  unit   pure logic and the HTTP protocol through inject(); no root, no services
 *  store  the etcd layer, IPAM and peer programming against a real etcd on loopback (peer
 *         programming also on real devices in a namespace: root)
 *  netns  the data plane on real kernel devices in throwaway namespaces (root)
 *  conformance  the remote-API conformance kit against a real plugin process (root)
 *  e2e    real dockerd engines and plugins in the lab (root; scripts/lab)
 *  bench  the benchmarks' smoke run, in labs of their own (root)
 */
export default defineConfig({
  test: {
    // Root and e2e files share machines' namespaces and the lab: one file at a time.
    fileParallelism: false,
    projects: [
      // Some unit tests run the CLI as a process: on a loaded machine that takes seconds.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'store', include: ['test/store/**/*.test.ts'], globalSetup: ['test/store/etcd-setup.ts'], testTimeout: 30_000 } },
      { test: { name: 'netns', include: ['test/netns/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'conformance', include: ['test/conformance/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 } },
      // bench/run --smoke: every benchmark with tiny counts, in labs of its own (root).
      { test: { name: 'bench', include: ['test/bench/**/*.test.ts'], testTimeout: 900_000 } },
      { test: { name: 'hardening', include: ['test/hardening/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/lab-setup.ts'],
          setupFiles: ['test/e2e/failure-logs.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
