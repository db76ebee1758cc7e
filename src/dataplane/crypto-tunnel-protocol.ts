/** Messages between the plugin and its tunnel process (crypto-tunnel-process.ts), over IPC. */
export interface TunnelSettings {
  /** This host's underlay address: where sealed datagrams are received and sent from. */
  readonly vtep: string;
  /** UDP port of sealed datagrams on the underlay. */
  readonly encPort: number;
  /** Loopback UDP port of the kernel's VXLAN socket for encrypted networks. */
  readonly innerPort: number;
  /** Loopback ports for the per-peer relay sockets: [base, base + span). */
  readonly relayPortBase: number;
  readonly relayPortSpan: number;
}

export type TunnelCommand =
  | { readonly id: number; readonly type: 'update'; readonly keys: ReadonlyArray<{ readonly id: number; readonly secret: string }>; readonly primary: number; readonly peers: readonly string[] }
  | { readonly id: number; readonly type: 'stats' };

export interface TunnelStats {
  sealed: number;
  opened: number;
  droppedUnknownPeer: number;
  droppedMalformed: number;
  droppedUnknownKey: number;
  droppedForged: number;
  droppedReplay: number;
  droppedOldSession: number;
  droppedNoKey: number;
}

export type TunnelReply =
  | { readonly type: 'updated'; readonly ports: Readonly<Record<string, number>> }
  | { readonly type: 'stats'; readonly stats: TunnelStats }
  | { readonly type: 'error'; readonly message: string };
