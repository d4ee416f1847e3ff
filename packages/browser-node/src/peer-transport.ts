import type { Connection } from "@libp2p/interface";

export type PeerTransport = "webrtc" | "websockets" | "relayed" | "other";

export interface ConnectedPeer {
  peerId: string;
  transport: PeerTransport;
}

const TRANSPORT_PREFERENCE: PeerTransport[] = ["webrtc", "websockets", "other", "relayed"];

/** One entry per peer, by its best connection: a WebRTC peer keeps its relayed signalling connection open too. */
export function connectedPeers(connections: Connection[]): ConnectedPeer[] {
  const best = new Map<string, PeerTransport>();
  for (const connection of connections) {
    const peerId = connection.remotePeer.toString();
    const transport = transportOf(connection);
    const known = best.get(peerId);
    if (known === undefined || TRANSPORT_PREFERENCE.indexOf(transport) < TRANSPORT_PREFERENCE.indexOf(known))
      best.set(peerId, transport);
  }
  return [...best].map(([peerId, transport]) => ({ peerId, transport }));
}

/** How a connection reaches its peer: directly over WebRTC, over WebSockets, or through a relay. */
export function transportOf(connection: Pick<Connection, "remoteAddr" | "limits">): PeerTransport {
  const address = connection.remoteAddr.toString();
  if (connection.limits !== undefined) return "relayed";
  if (address.includes("/webrtc")) return "webrtc";
  if (address.includes("/p2p-circuit")) return "relayed";
  if (address.includes("/ws") || address.includes("/wss")) return "websockets";
  return "other";
}
