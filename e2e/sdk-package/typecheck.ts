// Compiled with `tsc --noEmit` in the scratch project: the packed types resolve through `exports`
// and type an app's code as the official client's (e2e/src/sdk-package.test.ts).
import type { CreateClientOptions, OpenGatewayClient } from "@opengateway/sdk";
import { createClient, generateIdentity, NetworkUnreachableError } from "@opengateway/sdk";

const options: CreateClientOptions = { identity: generateIdentity(), peers: [], connectTimeoutMs: 1_000 };
export async function ask(): Promise<string | null | undefined> {
  const client: OpenGatewayClient = await createClient(options).catch((error: unknown) => {
    if (NetworkUnreachableError.isInstance(error)) throw new Error(`offline: ${error.message}`);
    throw error;
  });
  const answer = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] });
  const receipts: number = client.wallet.history().length;
  await client.close();
  return `${answer.choices[0]?.message.content} (${receipts} receipts)`;
}
