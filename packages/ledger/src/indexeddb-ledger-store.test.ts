import "fake-indexeddb/auto";
import { IndexedDbLedgerStore } from "./indexeddb-ledger-store.js";
import { describeLedgerStoreContract } from "./ledger-store-contract.test.js";

describeLedgerStoreContract("IndexedDB (fake-indexeddb)", (name) => IndexedDbLedgerStore.open(name));
