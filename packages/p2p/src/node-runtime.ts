/**
 * Node.js runtime set-up, imported first by every Node entry point:
 * - libp2p 3 expects two globals that Node 20 lacks (no-ops on newer Node);
 * - Ed25519 runs on Node's native crypto instead of the portable backend.
 */
import { useEd25519Backend } from "@opengateway/protocol";
import { createNodeEd25519Backend } from "@opengateway/protocol/node-ed25519-backend";
import { WebSocket as NodeWebSocket } from "ws";

interface PromiseWithResolversShape<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const promiseConstructor = Promise as unknown as { withResolvers?: <T>() => PromiseWithResolversShape<T> };
if (typeof promiseConstructor.withResolvers !== "function") {
  promiseConstructor.withResolvers = <T>(): PromiseWithResolversShape<T> => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const globals = globalThis as { WebSocket?: unknown };
if (typeof globals.WebSocket === "undefined") globals.WebSocket = NodeWebSocket;

useEd25519Backend(createNodeEd25519Backend());
