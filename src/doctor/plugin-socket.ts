import { request } from 'node:http';
import { stat } from 'node:fs/promises';
import { errorMessage } from '../lib/errors.js';
import { type CheckResult, fail, pass } from './check.js';

const NAME = 'plugin socket';
const TIMEOUT_MS = 3000;

/** What the engine does first with a plugin: POST /Plugin.Activate on its socket. */
export async function checkPluginSocket(path: string): Promise<CheckResult> {
  try {
    if (!(await stat(path)).isSocket()) return fail(NAME, `${path} exists but is not a socket`, `remove it and restart the plugin`);
  } catch {
    return fail(NAME, `no socket at ${path}: the plugin is not running here`, 'start the plugin (ts-overlay serve, or docker plugin enable), or pass the --socket it uses');
  }
  let answer: { status: number; body: string };
  try {
    answer = await activate(path);
  } catch (err) {
    const message = errorMessage(err);
    const hint = /ECONNREFUSED/.test(message) ? 'nobody listens on it (a plugin that died left it behind)' : message;
    return fail(NAME, `${path}: ${hint}`, 'restart the plugin; its log says why it stopped');
  }
  let implementsList: unknown;
  try {
    implementsList = (JSON.parse(answer.body) as { Implements?: unknown }).Implements;
  } catch {
    implementsList = undefined;
  }
  const list = Array.isArray(implementsList) ? implementsList.map(String) : [];
  if (answer.status !== 200 || !list.includes('NetworkDriver') || !list.includes('IpamDriver')) {
    return fail(NAME, `${path} answered Plugin.Activate with HTTP ${answer.status}: ${answer.body.slice(0, 200)}`, 'this is not a ts-overlay plugin socket, or the plugin is broken: check --socket and the plugin log');
  }
  return pass(NAME, `${path} answers Plugin.Activate: ${list.join(', ')}`);
}

function activate(socketPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/Plugin.Activate', method: 'POST', headers: { Accept: 'application/vnd.docker.plugins.v1.2+json' }, timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}
