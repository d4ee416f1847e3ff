// The SDK's Node.js entry (the "node" export condition): the runtime set-up that Node needs first
// (libp2p's globals on Node 20, native Ed25519), then the same API as everywhere.
import "@opengateway/p2p/node-runtime";

export * from "./index.js";
