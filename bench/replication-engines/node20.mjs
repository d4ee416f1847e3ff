// Node 20 lacks Promise.withResolvers, which libp2p 3 / Helia 7 use (the project's
// packages/p2p/src/node-runtime.ts installs the same polyfill). Import first.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = () => {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
