import { readFileSync } from 'node:fs';
import type { Config } from '../config/config.js';
import type { EtcdOptions } from './etcd-kv.js';

/**
 * How to reach etcd, from the config: endpoints, key prefix, and the TLS files and password
 * read now (a missing or unreadable file stops the start with its path in the message).
 */
export function etcdConnection(config: Config, callTimeoutMs: number): EtcdOptions {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const tls = config.etcdTls;
  const auth = config.etcdAuth;
  return {
    endpoints: config.etcd,
    prefix: config.etcdPrefix,
    callTimeoutMs,
    ...(tls
      ? { tls: { rootCertificate: read('etcd CA certificate', tls.ca), ...(tls.cert && tls.key ? { certChain: read('etcd client certificate', tls.cert), privateKey: read('etcd client key', tls.key) } : {}) } }
      : {}),
    ...(auth ? { auth: { username: auth.user, password: auth.passwordFile ? read('etcd password file', auth.passwordFile).toString('utf8').trim() : auth.password! } } : {}),
  };
}
