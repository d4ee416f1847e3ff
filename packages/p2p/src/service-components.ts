import type { StreamHandler, StreamHandlerOptions } from "@libp2p/interface";

/** The part of libp2p's components a protocol-serving service needs: registering its handler. */
export interface ProtocolServiceComponents {
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>;
    unhandle(protocol: string): Promise<void>;
  };
}
