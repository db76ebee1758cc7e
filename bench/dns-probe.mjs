// Run inside a container's network namespace (nsenter -t PID -n node bench/dns-probe.mjs) by
// bench/names.ts: asks SERVER for NAME (an A query) every 5 ms and prints the wall-clock time
// (ms since the epoch) of the first answer that has an address (`appear`) or the first that
// has none (`vanish`). Prints "ready" before its first query. Plain JavaScript: it starts in
// a fraction of the time tsx needs, once per sample.
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';

const [server = '127.0.0.11', name = '', mode = 'appear', limitMs = '10000'] = process.argv.slice(2);
const socket = createSocket('udp4');
let id = 0;
const deadline = Date.now() + Number(limitMs);
socket.on('message', (msg) => {
  let hasAddress = false;
  try {
    hasAddress = (dnsPacket.decode(msg).answers ?? []).some((a) => a.type === 'A');
  } catch {
    return;
  }
  if (hasAddress === (mode === 'appear')) {
    console.log(`at ${Date.now()}`);
    process.exit(0);
  }
});
socket.bind(0, () => {
  console.log('ready');
  const ask = () => {
    if (Date.now() > deadline) process.exit(1);
    id = (id + 1) & 0xffff;
    socket.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, server);
  };
  ask();
  setInterval(ask, 5);
});
