/** What a child process started by `opengateway start` or `devnet` reports once it serves. */
export type ReadyMessage =
  | {
      type: "ready";
      role: "node";
      peerId: string;
      addresses: string[];
      models: string[];
      /** The GGUF file it serves (resolved from an hf: URI into the model cache). */
      modelPath: string;
      region: string | null;
      /** The contributor page this node serves (`--contribute-port`), if any. */
      contributeUrl?: string;
    }
  | { type: "ready"; role: "relay"; peerId: string; addresses: string[] }
  | { type: "ready"; role: "gateway"; url: string; peerId: string };

/** Tells a parent that spawned this process over IPC that it is ready; a no-op otherwise. */
export function reportReady(message: ReadyMessage): void {
  process.send?.(message);
}
