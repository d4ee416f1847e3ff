export * from "./advert-publisher.js";
export * from "./constants.js";
export * from "./create-libp2p-node.js";
export * from "./frame-stream.js";
export * from "./inference-client.js";
export * from "./inference-service.js";
export * from "./node-info.js";
export * from "./service-components.js";
