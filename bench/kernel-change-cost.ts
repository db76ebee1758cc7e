/**
 * What one kernel change costs when the plugin makes it the way it does (a line to a long-lived
 * `ip -force -batch -` or `bridge -force -batch -`), and how much of that is the tool's own
 * work rather than the kernel's: the part a netlink socket inside the plugin would save.
 *
 *   npx tsx bench/kernel-change-cost.ts [ENDPOINTS] [ROUNDS]     (as root; defaults 1000, 5)
 *
 * In a namespace of its own (tso-kcost<TSO_TEST_ID>, removed at the end and, if a killed run
 * left it, at the start), on one VXLAN device (no underlay, no traffic), it makes ENDPOINTS
 * macvlans with the plugin's own line, in ROUNDS batches so that the cost per interface can be
 * seen as the device holds more of them; then a neighbour and a unicast FDB entry per endpoint,
 * as a remote host gets them; then deletes the macvlans one `link del` each; then makes them
 * again and deletes them together, as src/dataplane/link-reaper.ts does (each put in the
 * deletion group, then the group deleted). Each batch is one process, whose CPU time (user: the
 * tool parsing lines and printing; system: the kernel doing the change) comes from the shell's
 * `times`, which reads the finished children's rusage.
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { DELETION_GROUP } from '../src/dataplane/link-reaper.js';

const ENDPOINTS = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 5);
if (!Number.isInteger(ENDPOINTS) || ENDPOINTS < 1 || ENDPOINTS > 60_000 || !Number.isInteger(ROUNDS) || ROUNDS < 1 || ENDPOINTS % ROUNDS !== 0) {
  console.error('usage: npx tsx bench/kernel-change-cost.ts [ENDPOINTS (1-60000)] [ROUNDS (dividing ENDPOINTS)]');
  process.exit(2);
}

const NS = `tso-kcost${process.env.TSO_TEST_ID ?? ''}`;
const DEVICE = 'tsvx-4242';
const MTU = 1450;

const sh = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024, ...(input === undefined ? {} : { input }) });
const removeNamespace = () => {
  try {
    sh('ip', ['netns', 'del', NS]);
  } catch {
    // not there
  }
};

/** Endpoint i's MAC and address, as distinct as the plugin's (locally administered MACs, a /16). */
const macOf = (i: number) => `02:42:0a:9a:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
const addressOf = (i: number) => `10.154.${(i >> 8) & 0xff}.${i & 0xff}`;
const portName = (i: number) => `tsc-k${i}`;

interface Cost {
  what: string;
  /** Interfaces or entries changed: the row's figures are per change. */
  changes: number;
  wallMs: number;
  userMs: number;
  systemMs: number;
}

/** One batch through one tool process in the namespace; `times` gives that child's user and system CPU. */
function batch(tool: 'ip' | 'bridge', what: string, lines: string[], changes = lines.length): Cost {
  const started = performance.now();
  // The last line of `times` is the shell's children: "0m0.004s 0m0.141s".
  const out = sh('bash', ['-c', `${tool} -n ${NS} -force -batch - || exit 1; times`], lines.join('\n') + '\n');
  const wallMs = performance.now() - started;
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(out.trim());
  if (!m) throw new Error(`no times from the shell: ${out}`);
  const ms = (min: string, s: string) => (Number(min) * 60 + Number(s)) * 1000;
  return { what, changes, wallMs, userMs: ms(m[1]!, m[2]!), systemMs: ms(m[3]!, m[4]!) };
}

const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(1);
const row = (c: Cost) => {
  const cpu = c.userMs + c.systemMs;
  return `| ${c.what} | ${c.changes} | ${us(c.wallMs, c.changes)} | ${us(cpu, c.changes)} | ${us(c.userMs, c.changes)} | ${us(c.systemMs, c.changes)} | ${cpu > 0 ? ((100 * c.userMs) / cpu).toFixed(0) : '-'} % |`;
};

removeNamespace();
process.on('SIGINT', () => {
  removeNamespace();
  process.exit(130);
});
const costs: Cost[] = [];
try {
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', NS, 'link', 'add', DEVICE, 'mtu', String(MTU), 'type', 'vxlan', 'id', '4242', 'dstport', '4789', 'nolearning', 'proxy']);
  sh('ip', ['-n', NS, 'link', 'set', DEVICE, 'up']);
  const perRound = ENDPOINTS / ROUNDS;
  const makeAll = (record: boolean) => {
    for (let r = 0; r < ROUNDS; r++) {
      const first = r * perRound;
      const lines = Array.from({ length: perRound }, (_, k) => `link add ${portName(first + k)} link ${DEVICE} mtu ${MTU} address ${macOf(first + k)} type macvlan mode bridge`);
      const cost = batch('ip', `macvlan made, ${first}-${first + perRound - 1} already on the device`, lines);
      if (record) costs.push(cost);
    }
    const made = macvlans();
    if (made !== ENDPOINTS) throw new Error(`${made} macvlans on the device, not ${ENDPOINTS}`);
  };
  const macvlans = () => sh('ip', ['-n', NS, '-o', 'link', 'show', 'type', 'macvlan']).split('\n').filter(Boolean).length;
  makeAll(true);
  const all = Array.from({ length: ENDPOINTS }, (_, i) => i);
  costs.push(batch('ip', 'neighbour entry (`neigh replace ... nud permanent`)', all.map((i) => `neigh replace ${addressOf(i)} lladdr ${macOf(i + 0x8000)} dev ${DEVICE} nud permanent`)));
  costs.push(batch('bridge', 'FDB entry (`fdb replace ... self permanent`)', all.map((i) => `fdb replace ${macOf(i + 0x8000)} dev ${DEVICE} dst 198.18.${1 + (i % 200)}.1 self permanent`)));
  costs.push(batch('ip', `macvlan deleted, one \`link del\` each, ${ENDPOINTS} on the device at first`, all.map((i) => `link del ${portName(i)}`)));
  makeAll(false);
  const together = [...all.map((i) => `link set ${portName(i)} group ${DELETION_GROUP}`), `link del group ${DELETION_GROUP}`];
  costs.push(batch('ip', `macvlan deleted together (\`link set ... group ${DELETION_GROUP}\` each, then \`link del group\`)`, together, ENDPOINTS));
  if (macvlans() !== 0) throw new Error('macvlans left after the group was deleted');
} finally {
  removeNamespace();
}

console.log(`${ENDPOINTS} endpoints on one VXLAN device, a \`-batch\` process per row (kernel ${sh('uname', ['-r']).trim()})\n`);
console.log('| change | how many | wall, us each | CPU, us each | of it the tool (user), us | the kernel (system), us | the tool\'s share |');
console.log('|---|---|---|---|---|---|---|');
for (const c of costs) console.log(row(c));
