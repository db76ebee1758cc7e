/** Parsing what iperf3 and ping print; pure, so the unit tests can hold them to real output. */

/** Received throughput in Gbit/s from `iperf3 -c ... -J` (the receiver's view: what arrived). */
export function iperf3Gbps(json: string): number {
  const parsed = JSON.parse(json) as { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  if (parsed.error) throw new Error(`iperf3: ${parsed.error}`);
  const bps = parsed.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || !Number.isFinite(bps)) throw new Error('iperf3 JSON without end.sum_received.bits_per_second');
  return bps / 1e9;
}

/** Round-trip times in ms, one per answer, from iputils or busybox ping output. */
export function pingRtts(output: string): number[] {
  return [...output.matchAll(/bytes from .*?time[=<]([\d.]+) ?ms/g)].map((m) => Number(m[1]));
}
