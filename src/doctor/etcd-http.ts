import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The TLS material the plugin itself connects with (PEM contents). */
export interface EtcdTls {
  readonly rootCertificate: Buffer;
  readonly certChain?: Buffer;
  readonly privateKey?: Buffer;
}

export const ETCD_HTTP_TIMEOUT_MS = 3000;

/**
 * GET /version on an etcd client URL, over https with the plugin's CA and client certificate
 * when it has them: the doctor must reach etcd exactly the way the plugin does. Failures say
 * why in a word (ECONNREFUSED, a TLS error, a timeout).
 */
export function getEtcdVersion(endpoint: string, tls?: EtcdTls): Promise<{ status: number; date: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL('/version', endpoint);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      url,
      {
        method: 'GET',
        timeout: ETCD_HTTP_TIMEOUT_MS,
        ...(tls && url.protocol === 'https:' ? { ca: tls.rootCertificate, ...(tls.certChain ? { cert: tls.certChain, key: tls.privateKey } : {}) } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, date: res.headers.date, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ETCD_HTTP_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code ?? err.message)));
    req.end();
  });
}
