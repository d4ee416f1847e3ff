import "fake-indexeddb/auto";
import { IndexedDbLedgerStore } from "./indexeddb-ledger-store.js";
import { describeLedgerStoreContract } from "./test-support/ledger-store-contract.js";

describeLedgerStoreContract("IndexedDB (fake-indexeddb)", (name) => IndexedDbLedgerStore.open(name));
