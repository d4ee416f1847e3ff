import { readFile } from "node:fs/promises";
import type { LedgerBlock } from "@opengateway/ledger";
import { BlockAuthor, ledgerBlockHash, registerAccount } from "@opengateway/ledger";
import type { LedgerReplica } from "@opengateway/p2p";
import { createLibp2pNode, ledgerReplica } from "@opengateway/p2p";
import type { Identity } from "@opengateway/protocol";
import { generateIdentity, isIdentityId } from "@opengateway/protocol";
import { readIdentityFile, writeIdentityFile } from "@opengateway/sdk";
import { ledgerParamOverrides } from "./network-params.js";
import { registrationFingerprint } from "./node-registration.js";
import { proofOfWorkProgress } from "./progress-line.js";

export interface WalletOptions {
  keyFile: string;
  passphrase?: string;
  json: boolean;
  bootstrap: string[];
  local: boolean;
  registrationDifficulty?: number;
}

type Print = (human: string, data: unknown) => void;

const printer =
  (json: boolean): Print =>
  (human, data) => {
    process.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`);
  };

export async function walletCreate(options: WalletOptions & { register: boolean }): Promise<void> {
  const identity = generateIdentity();
  await writeIdentityFile(options.keyFile, identity, { passphrase: options.passphrase, overwrite: false });
  const print = printer(options.json);
  print(
    `created ${identity.id} in ${options.keyFile}${options.passphrase ? " (encrypted)" : " (not encrypted: set OPENGATEWAY_PASSPHRASE)"}`,
    { identity: identity.id, keyFile: options.keyFile, encrypted: options.passphrase !== undefined },
  );
  if (options.register) await walletRegister(options, identity);
}

export async function walletShow(options: WalletOptions): Promise<void> {
  const identity = await readIdentityFile(options.keyFile, { passphrase: options.passphrase });
  const encrypted = JSON.parse(await readFile(options.keyFile, "utf8")).v === 2;
  printer(options.json)(`${identity.id}\n  key file  ${options.keyFile}${encrypted ? " (encrypted)" : ""}`, {
    identity: identity.id,
    keyFile: options.keyFile,
    encrypted,
  });
}

/** Prints the key file (encrypted when it is) for moving to another machine. */
export async function walletExport(options: WalletOptions): Promise<void> {
  process.stdout.write(await readFile(options.keyFile, "utf8"));
}

/** Takes a key file exported elsewhere and stores it here, encrypted under this passphrase. */
export async function walletImport(options: WalletOptions & { from: string; fromPassphrase?: string }): Promise<void> {
  const identity = await readIdentityFile(options.from, { passphrase: options.fromPassphrase ?? options.passphrase });
  await writeIdentityFile(options.keyFile, identity, { passphrase: options.passphrase, overwrite: false });
  printer(options.json)(`imported ${identity.id} into ${options.keyFile}`, { identity: identity.id, keyFile: options.keyFile });
}

/** Joins the network just long enough to bring a copy of the ledger (in memory) up to date, then runs `task`. */
async function withLedger<T>(options: WalletOptions, task: (replica: LedgerReplica) => Promise<T>): Promise<T> {
  const node = await createLibp2pNode({
    identity: generateIdentity(),
    listen: [],
    bootstrap: options.bootstrap,
    localNetwork: options.local,
    dhtMode: "client",
    services: { ledger: ledgerReplica({ params: ledgerParamOverrides(options) }) },
  });
  const replica = node.services.ledger;
  const sync = replica.sync;
  try {
    const deadline = Date.now() + 10_000;
    while (node.getConnections().length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (node.getConnections().length === 0) throw new Error("could not reach any bootstrap peer");
    // Reconcile with the peers we reached directly (identify may not have listed their protocols yet);
    // a bootstrap peer that keeps no ledger is skipped, but one of them must answer.
    const failures: unknown[] = [];
    for (const connection of node.getConnections()) {
      await sync.reconcile(connection.remotePeer, { signal: AbortSignal.timeout(20_000) }).catch((error: unknown) => {
        failures.push(error);
      });
    }
    if (failures.length === node.getConnections().length) {
      throw new Error(`no bootstrap peer keeps the ledger (${String(failures[0])}): pass a full node's or a relay's address`);
    }
    return await task(replica);
  } finally {
    await node.stop();
  }
}

export async function walletRegister(options: WalletOptions, known?: Identity): Promise<void> {
  const identity = known ?? (await readIdentityFile(options.keyFile, { passphrase: options.passphrase }));
  const fingerprintHash = await registrationFingerprint(identity.id, options.local);
  await withLedger(options, async ({ ledger, sync }) => {
    if (ledger.account(identity.id).opened) {
      printer(options.json)(`${identity.id} is already registered`, { identity: identity.id, registered: true });
      return;
    }
    const started = Date.now();
    const work = proofOfWorkProgress(ledger.params.registrationDifficultyBits);
    const open = await registerAccount(
      identity,
      { fingerprintHash, ...ledger.registrationWork() },
      { onProgress: work.onProgress },
    );
    work.done();
    const result = await sync.publish(open);
    if (result.status !== "applied") throw result.error ?? new Error(`registration not applied (${result.status})`);
    // Gossip needs a formed mesh; a reconciliation hands the block to every connected peer now.
    await sync.reconcileAll({ signal: AbortSignal.timeout(20_000) });
    printer(options.json)(
      `registered ${identity.id} in ${Date.now() - started} ms: ${ledger.account(identity.id).balance} credits`,
      {
        identity: identity.id,
        registered: true,
        ...ledger.account(identity.id),
      },
    );
  });
}

export async function walletBalance(options: WalletOptions): Promise<void> {
  const identity = await readIdentityFile(options.keyFile, { passphrase: options.passphrase });
  await withLedger(options, async ({ ledger }) => {
    const account = ledger.account(identity.id);
    printer(options.json)(
      `${identity.id}\n  balance       ${account.balance}\n  transferable  ${account.transferable}\n  locked        ${account.locked}\n  debt          ${account.debt}`,
      { identity: identity.id, ...account },
    );
  });
}

export async function walletHistory(options: WalletOptions): Promise<void> {
  const identity = await readIdentityFile(options.keyFile, { passphrase: options.passphrase });
  await withLedger(options, async ({ ledger }) => {
    const history = ledger.history(identity.id).reverse().map(describeBlock);
    printer(options.json)(
      history.map((entry) => `  ${entry.height}  ${entry.at}  ${entry.summary}`).join("\n") || "  (no blocks)",
      history,
    );
  });
}

export async function walletTransfer(options: WalletOptions & { to: string; amount: number }): Promise<void> {
  if (!isIdentityId(options.to)) throw new Error(`'${options.to}' is not an identity id`);
  const identity = await readIdentityFile(options.keyFile, { passphrase: options.passphrase });
  await withLedger(options, async ({ ledger, sync }) => {
    const send = new BlockAuthor(identity, ledger.position(identity.id)).append(
      { kind: "send", to: options.to, amount: options.amount },
      Date.now(),
    );
    const problem = ledger.check(send);
    if (problem) throw problem;
    await sync.publish(send);
    await sync.reconcileAll({ signal: AbortSignal.timeout(20_000) });
    printer(options.json)(
      `sent ${options.amount} credits to ${options.to}; they arrive when the recipient's wallet receives them`,
      {
        identity: identity.id,
        to: options.to,
        amount: options.amount,
        ...ledger.account(identity.id),
      },
    );
  });
}

/** Collects every transfer sent to this identity that it has not received yet (one receive block each). */
export async function walletReceive(options: WalletOptions): Promise<void> {
  const identity = await readIdentityFile(options.keyFile, { passphrase: options.passphrase });
  await withLedger(options, async ({ ledger, sync }) => {
    let received = 0;
    let credits = 0;
    for (const head of ledger.heads()) {
      for (const block of ledger.history(head.account)) {
        if (block.kind !== "send" || block.to !== identity.id) continue;
        const receive = new BlockAuthor(identity, ledger.position(identity.id)).append(
          { kind: "receive", source: ledgerBlockHash(block) },
          Date.now(),
        );
        // Already received (or not receivable yet): the ledger says so without anything being signed away.
        if (ledger.check(receive) !== null) continue;
        await sync.publish(receive);
        received++;
        credits += block.amount;
      }
    }
    if (received > 0) await sync.reconcileAll({ signal: AbortSignal.timeout(20_000) });
    printer(options.json)(
      `received ${received} transfer(s), ${credits} credits; balance ${ledger.account(identity.id).balance}`,
      {
        identity: identity.id,
        received,
        credits,
        ...ledger.account(identity.id),
      },
    );
  });
}

function describeBlock(block: LedgerBlock) {
  const at = new Date(block.timestamp).toISOString();
  switch (block.kind) {
    case "open":
      return { height: block.height, at, kind: block.kind, summary: "registered (grant)" };
    case "send":
      return { height: block.height, at, kind: block.kind, summary: `sent ${block.amount} to ${block.to}` };
    case "receive":
      return { height: block.height, at, kind: block.kind, summary: `received transfer ${block.source}` };
    case "earn":
      return { height: block.height, at, kind: block.kind, summary: `earned settlement ${block.source}` };
    case "settle":
      return {
        height: block.height,
        at,
        kind: block.kind,
        summary: `paid ${block.receipt.credits} to ${block.receipt.provider} for ${block.receipt.requestId}`,
      };
    default:
      return { height: block.height, at, kind: block.kind, summary: block.kind };
  }
}
