import { peerIdFromString } from "@libp2p/peer-id";
import type { Ledger } from "@opengateway/ledger";
import type { InferenceRequest } from "@opengateway/protocol";
import { InsufficientCreditsError } from "@opengateway/protocol";
import type { LedgerSync } from "./ledger-sync.js";

/** How long a provider waits for an unknown payer's chain from the peer that sent its request. */
const UNKNOWN_PAYER_SYNC_MS = 5_000;

/**
 * A provider's payment check (full nodes and tabs, on by default): the payer must be on the
 * ledger, owe nothing, and hold maxCredits on top of what its requests in flight here already
 * hold. The hold is a reservation on this provider's copy of the ledger, freed by the returned
 * function when the request ends, so concurrent requests cannot each spend the same credits.
 * An unknown payer's chain is fetched from the peer that sent the request first.
 */
export async function checkPayer(
  ledger: Ledger,
  sync: Pick<LedgerSync, "reconcile">,
  request: InferenceRequest,
  fromPeer: string,
  options: { signal?: AbortSignal } = {},
): Promise<() => void> {
  if (!ledger.account(request.payer).opened) {
    const signals = [AbortSignal.timeout(UNKNOWN_PAYER_SYNC_MS), ...(options.signal ? [options.signal] : [])];
    await sync.reconcile(peerIdFromString(fromPeer), { signal: AbortSignal.any(signals) }).catch(() => undefined);
  }
  if (!ledger.account(request.payer).opened) {
    throw new InsufficientCreditsError(`payer ${request.payer} is not registered on the ledger`);
  }
  // Keyed by payer and id, so no one else's request id can take (or free) this hold.
  const hold = `served:${request.payer}:${request.id}`;
  ledger.reserve(request.payer, hold, request.maxCredits, { expiresAt: request.expiresAt });
  return () => ledger.release(hold);
}
