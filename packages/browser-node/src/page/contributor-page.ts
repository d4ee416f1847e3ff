/**
 * The contributor page: one page anyone can open to have their tab join the network, serve,
 * earn credits and chat. All behaviour lives in the library (`startBrowserNode`); this file only
 * renders its status and forwards the contributor's choices.
 */

import { errorMessage } from "@opengateway/protocol";
import wllamaWasmUrl from "@wllama/wllama/esm/wasm/wllama.wasm?url";
import { PassphraseRequiredError, WrongPassphraseError } from "../identity-vault.js";
import type { PageConfig } from "../page-config.js";
import { loadPageConfig } from "../page-config.js";
import type { PeerTransport } from "../peer-transport.js";
import type { BrowserNode, BrowserNodeStatus } from "../start-browser-node.js";
import { startBrowserNode } from "../start-browser-node.js";

declare global {
  interface Window {
    /** The running node, for the console (and for tests that drive the page). */
    opengateway?: BrowserNode;
  }
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page lacks #${id}`);
  return found as T;
}

const ui = {
  phase: element("phase"),
  error: element("error"),
  unlockForm: element<HTMLFormElement>("unlock-form"),
  unlockPassphrase: element<HTMLInputElement>("unlock-passphrase"),
  peerId: element("peer-id"),
  peers: element("peers"),
  region: element("region"),
  engine: element("engine"),
  model: element("model"),
  progress: element<HTMLProgressElement>("load-progress"),
  progressText: element("load-progress-text"),
  requestsServed: element("requests-served"),
  tokensPerSecond: element("tokens-per-second"),
  ledgerState: element("ledger-state"),
  ledgerBalance: element("ledger-balance"),
  creditsEarned: element("credits-earned"),
  creditsSpent: element("credits-spent"),
  servedAnnouncer: element("served-announcer"),
  toggle: element<HTMLButtonElement>("toggle"),
  maxConcurrent: element<HTMLInputElement>("max-concurrent"),
  pauseHidden: element<HTMLInputElement>("pause-hidden"),
  chatForm: element<HTMLFormElement>("chat-form"),
  chatInput: element<HTMLTextAreaElement>("chat-input"),
  chatSend: element<HTMLButtonElement>("chat-send"),
  chatLog: element("chat-log"),
  protection: element("protection"),
  passphraseForm: element<HTMLFormElement>("passphrase-form"),
  newPassphrase: element<HTMLInputElement>("new-passphrase"),
};

const PHASE_TEXT: Record<BrowserNodeStatus["phase"], string> = {
  idle: "Ready — press Start to contribute",
  probing: "Checking this device…",
  loading: "Loading the model…",
  "warming-up": "Measuring speed…",
  serving: "Serving requests",
  paused: "Paused",
  unavailable: "This tab cannot serve a model",
  failed: "Failed",
  stopped: "Stopped",
};

const TRANSPORT_NAMES: Record<PeerTransport, string> = {
  webrtc: "WebRTC",
  websockets: "WebSockets",
  relayed: "relayed",
  other: "other",
};

const numbers = new Intl.NumberFormat();

const REGISTRATION_TEXT: Record<NonNullable<BrowserNodeStatus["ledger"]>["registration"], string> = {
  registering: "Ledger: registering…",
  registered: "Ledger: registered",
  refused: "Ledger: registration refused",
  failed: "Ledger: registration failed",
};

/** Writes only changes, so live regions announce changes rather than every refresh. */
function setText(target: HTMLElement, text: string): void {
  if (target.textContent !== text) target.textContent = text;
}

/** What the ledger showed as earned at the last render (null before the first), to announce collections. */
let shownEarned: number | null = null;

function renderLedger(status: BrowserNodeStatus): void {
  const ledger = status.ledger;
  if (ledger === null) {
    ui.ledgerState.dataset.state = "off";
    setText(ui.ledgerState, "No ledger on this network: receipts are signed, credits are not collected.");
    setText(ui.ledgerBalance, "–");
    setText(ui.creditsEarned, numbers.format(status.counters.creditsEarned));
    setText(ui.creditsSpent, numbers.format(status.counters.creditsSpent));
    return;
  }
  ui.ledgerState.dataset.state = ledger.registration;
  const waiting =
    ledger.awaitingSettlement > 0 ? ` · ${numbers.format(ledger.awaitingSettlement)} receipts awaiting settlement` : "";
  const debt = ledger.debt > 0 ? ` · owes ${numbers.format(ledger.debt)} credits` : "";
  setText(
    ui.ledgerState,
    ledger.registration === "registered"
      ? `${REGISTRATION_TEXT.registered}${debt}${waiting}`
      : `${REGISTRATION_TEXT[ledger.registration]} — ${ledger.detail}`,
  );
  ui.ledgerState.title = `${ledger.detail}\naccount ${ledger.account} · height ${ledger.height} · ledger root ${ledger.merkleRoot} (${numbers.format(ledger.accounts)} accounts)`;
  setText(
    ui.ledgerBalance,
    ledger.registration === "registered"
      ? `${numbers.format(ledger.balance)} credits${ledger.reserved > 0 ? ` (${numbers.format(ledger.reserved)} held for a chat)` : ""}`
      : "–",
  );
  setText(ui.creditsEarned, numbers.format(ledger.earned));
  setText(ui.creditsSpent, numbers.format(ledger.spent));
  if (shownEarned !== null && ledger.earned > shownEarned) {
    ui.servedAnnouncer.textContent = `Collected ${numbers.format(ledger.earned - shownEarned)} credits on the ledger.`;
  }
  shownEarned = ledger.earned;
}

function showError(message: string | null): void {
  ui.error.hidden = message === null;
  ui.error.textContent = message ?? "";
}

function render(node: BrowserNode): void {
  const status = node.status();
  ui.phase.textContent = `${PHASE_TEXT[status.phase]}${status.detail ? ` — ${status.detail}` : ""}`;
  ui.phase.dataset.phase = status.phase;
  ui.peerId.textContent = status.peerId;
  const byTransport = new Map<PeerTransport, number>();
  for (const peer of status.peers) byTransport.set(peer.transport, (byTransport.get(peer.transport) ?? 0) + 1);
  ui.peers.textContent =
    status.peers.length === 0
      ? "0"
      : `${status.peers.length} (${[...byTransport].map(([transport, count]) => `${count} ${TRANSPORT_NAMES[transport]}`).join(", ")})`;
  ui.region.textContent = status.region ?? "any (not set)";
  ui.engine.textContent = status.engine
    ? `${status.engine}${status.measuredTokensPerSecond !== null ? ` · ${numbers.format(status.measuredTokensPerSecond)} tokens/s measured` : ""}`
    : "not chosen yet";
  ui.engine.title = status.engineReason ?? status.verdicts.map((verdict) => `${verdict.id}: ${verdict.reason}`).join("\n");
  ui.model.textContent = status.model
    ? `${status.model}${status.clusters.length ? ` (cluster ${status.clusters.join(", ")})` : ""}`
    : "none";
  const progress = status.loadProgress;
  if (progress && progress.total > 0) {
    const percent = Math.min(100, Math.round((progress.loaded / progress.total) * 100));
    ui.progress.value = percent;
    ui.progressText.textContent = `${percent}%`;
  } else {
    ui.progress.removeAttribute("value");
    ui.progressText.textContent = status.phase === "loading" ? "starting" : "not started";
  }
  if (status.model !== null && status.phase !== "loading") {
    ui.progress.value = 100;
    ui.progressText.textContent = "loaded";
  }
  ui.requestsServed.textContent = numbers.format(status.counters.requestsServed);
  ui.tokensPerSecond.textContent =
    status.liveTokensPerSecond > 0
      ? numbers.format(status.liveTokensPerSecond)
      : status.measuredTokensPerSecond !== null
        ? "idle"
        : "–";
  renderLedger(status);
  const contributing = status.settings.contributing;
  ui.toggle.disabled = ["probing", "loading", "warming-up", "stopped"].includes(status.phase);
  ui.toggle.setAttribute("aria-pressed", String(contributing));
  ui.toggle.textContent = contributing ? "Pause contribution" : "Start contributing";
  if (document.activeElement !== ui.maxConcurrent) ui.maxConcurrent.value = String(status.settings.maxConcurrentRequests);
  ui.pauseHidden.checked = status.settings.pauseWhenHidden;
  showError(status.error);
}

function appendChat(text: string, className?: string): HTMLParagraphElement {
  const paragraph = document.createElement("p");
  paragraph.textContent = text;
  if (className) paragraph.className = className;
  ui.chatLog.append(paragraph);
  return paragraph;
}

function wire(node: BrowserNode): void {
  let scheduled = false;
  const scheduleRender = (): void => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render(node);
    });
  };
  node.addEventListener("status", scheduleRender);
  node.addEventListener("served", (event) => {
    const served = (event as CustomEvent<{ outcome: string; credits?: number }>).detail;
    if (served.outcome === "done") {
      ui.servedAnnouncer.textContent = `Served a request: a receipt for ${numbers.format(served.credits ?? 0)} credits.`;
    }
  });

  // Live speed decays while idle, so it is refreshed even without events (hidden tabs are throttled anyway).
  setInterval(() => render(node), 1_000);
  render(node);

  ui.toggle.addEventListener("click", () => {
    const action = node.status().settings.contributing ? node.pauseContributing() : node.startContributing();
    action.catch((error: unknown) => showError(errorMessage(error)));
  });
  ui.maxConcurrent.addEventListener("change", () => {
    void node.setThrottle({ maxConcurrentRequests: Number(ui.maxConcurrent.value) || 1 });
  });
  ui.pauseHidden.addEventListener("change", () => {
    void node.setThrottle({ pauseWhenHidden: ui.pauseHidden.checked });
  });

  ui.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = ui.chatInput.value.trim();
    if (!content) return;
    ui.chatInput.value = "";
    ui.chatSend.disabled = true;
    appendChat(`You: ${content}`);
    const reply = appendChat("…");
    void (async () => {
      try {
        const stream = node.chat({ messages: [{ role: "user", content }], maxTokens: 96 });
        let text = "";
        while (true) {
          const next = await stream.next();
          if (next.done) {
            const result = next.value;
            reply.textContent = result.text || "(empty answer)";
            const tokens = result.usage.promptTokens + result.usage.completionTokens;
            const payment = result.paid
              ? `${result.credits} credits spent`
              : result.paymentError
                ? `${result.credits} credits owed: settling failed (${result.paymentError})`
                : `${result.credits} credits (not paid: no ledger)`;
            appendChat(`Answered by ${result.provider.slice(0, 12)}… (${result.model}) · ${tokens} tokens · ${payment}`, "meta");
            break;
          }
          text += next.value;
          reply.textContent = text;
        }
      } catch (error) {
        reply.textContent = `No answer: ${errorMessage(error)}`;
        reply.setAttribute("role", "alert");
      } finally {
        ui.chatSend.disabled = false;
      }
    })();
  });

  const showProtection = async (): Promise<void> => {
    const protection = await node.identityProtection();
    ui.protection.textContent =
      protection === "passphrase"
        ? "Protected by your passphrase: it is asked for each time this page opens."
        : "Protected by a key this browser keeps and never reveals.";
  };
  void showProtection();
  ui.passphraseForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const passphrase = ui.newPassphrase.value;
    ui.newPassphrase.value = "";
    node
      .setPassphrase(passphrase === "" ? null : passphrase)
      .then(showProtection)
      .catch((error: unknown) => showError(errorMessage(error)));
  });
}

/** Starts the node; a passphrase-protected identity waits for the contributor to unlock it. */
async function start(config: PageConfig, passphrase?: string): Promise<void> {
  try {
    const node = await startBrowserNode({
      bootstrap: config.bootstrap,
      models: config.models,
      iceServers: config.iceServers,
      region: config.region,
      localNetwork: config.localNetwork,
      databaseName: config.databaseName,
      ledger: config.ledger ?? null,
      wllamaWasmUrl,
      passphrase,
      contribute: config.autostart ? true : undefined,
    });
    ui.unlockForm.hidden = true;
    window.opengateway = node;
    window.addEventListener("pagehide", () => void node.stop());
    wire(node);
  } catch (error) {
    if (error instanceof PassphraseRequiredError || error instanceof WrongPassphraseError) {
      ui.unlockForm.hidden = false;
      ui.phase.textContent = error instanceof WrongPassphraseError ? "Wrong passphrase — try again" : "Locked";
      ui.unlockPassphrase.focus();
      ui.unlockForm.onsubmit = (event) => {
        event.preventDefault();
        void start(config, ui.unlockPassphrase.value);
      };
      return;
    }
    throw error;
  }
}

loadPageConfig({ pageUrl: location.href })
  .then((config) => start(config))
  .catch((error: unknown) => {
    ui.phase.textContent = "Failed to start";
    showError(errorMessage(error));
  });
