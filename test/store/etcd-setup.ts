import type { TestProject } from 'vitest/node';
import { killLeftoverEtcd, startEtcd } from '../helpers/etcd-server.js';
import { TEST_PORT_BASE } from '../helpers/instance.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoint: string;
  }
}

/** One real etcd for the whole store suite; each test file works under its own key prefix. */
export default async function setup(project: TestProject) {
  killLeftoverEtcd();
  const etcd = await startEtcd({ clientPort: TEST_PORT_BASE, peerPort: TEST_PORT_BASE + 1 });
  project.provide('etcdEndpoint', etcd.endpoint);
  return () => etcd.stop();
}
