/**
 * libp2p 3 expects two globals that Node 20 lacks. Entry points import this module first;
 * on newer Node both branches are no-ops.
 */
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
