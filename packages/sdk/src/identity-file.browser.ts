import type { Identity } from "@opengateway/protocol";
import { errorClass } from "@opengateway/protocol";

/** Browsers have no key files: pass an `identity` (the browser node keeps its own in IndexedDB). */
export async function loadOrCreateIdentity(_path: string, _options?: unknown): Promise<Identity> {
  throw new Error("keyFile is not available in browsers; pass an identity instead");
}

export async function loadOrCreateSecret(_path: string, _options?: unknown): Promise<Uint8Array> {
  throw new Error("secret files are not available in browsers");
}

export async function isEncryptedSecretFile(_path: string): Promise<boolean> {
  throw new Error("secret files are not available in browsers");
}

export async function isEncryptedKeyFile(_path: string): Promise<boolean> {
  throw new Error("key files are not available in browsers");
}

export async function readIdentityFile(_path: string, _options?: unknown): Promise<Identity> {
  throw new Error("key files are not available in browsers");
}

export async function writeIdentityFile(_path: string, _identity: Identity, _options?: unknown): Promise<void> {
  throw new Error("key files are not available in browsers");
}

export class KeyFileError extends errorClass("KeyFileError", "invalid_key_file", (message: string) => message) {}
