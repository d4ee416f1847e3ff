import type { LedgerParams } from "@opengateway/ledger";
import { SqliteLedgerStore } from "@opengateway/ledger/sqlite";
import type { Logger } from "@opengateway/protocol";
import type { LedgerReplica, LedgerReplicaComponents } from "./ledger-replica.js";
import { ledgerReplica } from "./ledger-replica.js";

/** A Node peer's ledger replica (full node, gateway, relay), as its options say it. */
export interface SqliteLedgerReplicaInit {
  /** SQLite file that keeps the ledger across restarts (created with its directory); absent = in memory. */
  path?: string;
  params?: Partial<LedgerParams>;
  /** How often the ledger is reconciled with every peer (default 10 min; new peers are reconciled with at once). */
  syncIntervalMs?: number;
}

/** The `ledgerReplica` service of a Node peer, kept in a SQLite file (Node only: `@opengateway/p2p/sqlite-ledger-replica`). */
export function sqliteLedgerReplica(
  init: SqliteLedgerReplicaInit & { logger?: Logger },
): (components: LedgerReplicaComponents) => LedgerReplica {
  const { path } = init;
  return ledgerReplica({
    params: init.params,
    openStore: path === undefined ? undefined : () => SqliteLedgerStore.open(path),
    syncIntervalMs: init.syncIntervalMs,
    logger: init.logger,
  });
}
