// The SDK in a web page: Vite bundles the package's browser build (WebSockets/WebRTC, no Node APIs).
// Run it with `pnpm --filter @opengateway/examples sdk-in-browser` and a network (`pnpm start`
// prints the node's /ws address).
import type { Identity, OpenGatewayClient } from "@opengateway/sdk";
import { createClient, generateIdentity, identityFromSeed, NetworkUnreachableError } from "@opengateway/sdk";

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string) => element("status").replaceChildren(text);

/**
 * The page keeps its identity, so its ledger account (and its balance) survives a reload. An
 * example only: localStorage is readable by any script on the origin; a real app keeps the seed
 * somewhere safer (an encrypted IndexedDB entry, the user's own key file).
 */
function pageIdentity(): Identity {
  const saved = localStorage.getItem("opengateway-identity-seed");
  if (saved) return identityFromSeed(Uint8Array.from(saved.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16)));
  const identity = generateIdentity();
  const hex = Array.from(identity.seed, (byte) => byte.toString(16).padStart(2, "0")).join("");
  localStorage.setItem("opengateway-identity-seed", hex);
  return identity;
}

let client: OpenGatewayClient | undefined;
let connectedTo = "";

async function connect(address: string, localNetwork: boolean): Promise<OpenGatewayClient> {
  if (client && connectedTo === address) return client;
  await client?.close();
  client = undefined;
  status("connecting");
  client = await createClient({
    bootstrap: [address],
    identity: pageIdentity(),
    // The page's identity registers on first use (proof of work); a local devnet asks for less work.
    localNetwork,
    // Safe here: there is no API key to leak, only this page's identity.
    openai: { dangerouslyAllowBrowser: true },
  });
  connectedTo = address;
  return client;
}

element<HTMLFormElement>("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const output = element("output");
  output.replaceChildren();
  element("error").replaceChildren();
  element<HTMLButtonElement>("send").disabled = true;
  try {
    const openai = await connect(element<HTMLInputElement>("address").value.trim(), element<HTMLInputElement>("local").checked);
    status("asking");
    const model = (await openai.models.list()).data[0]?.id;
    if (!model) throw new Error("no provider serves a model right now");
    const stream = await openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: element<HTMLTextAreaElement>("prompt").value }],
      max_tokens: 40,
      stream: true,
    });
    for await (const chunk of stream) output.append(chunk.choices[0]?.delta.content ?? "");
    element("wallet").replaceChildren(
      `Paid by ${openai.wallet.identity}; ${openai.wallet.history().length} signed receipt(s) so far.`,
    );
    status("done");
  } catch (error) {
    // NetworkUnreachableError says which addresses failed and how long createClient waited.
    const prefix = NetworkUnreachableError.isInstance(error) ? "Network unreachable: " : "";
    element("error").replaceChildren(prefix + (error instanceof Error ? error.message : String(error)));
    status("failed");
  } finally {
    element<HTMLButtonElement>("send").disabled = false;
  }
});
status("ready");
