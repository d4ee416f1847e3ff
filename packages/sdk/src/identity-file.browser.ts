import type { Identity } from "@opengateway/protocol";

/** Browsers have no key files: pass an `identity` (the browser node keeps its own in IndexedDB). */
export async function loadOrCreateIdentity(_path: string): Promise<Identity> {
  throw new Error("keyFile is not available in browsers; pass an identity instead");
}

export async function loadOrCreateSecret(_path: string): Promise<Uint8Array> {
  throw new Error("secret files are not available in browsers");
}
