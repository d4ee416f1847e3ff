// Existing OpenAI code, pointed at an OpenGateway gateway: only baseURL changes.
//
//   OPENGATEWAY_API_KEY=... node examples/chat-via-gateway.mjs "Once upon a time"
//
// OPENAI_BASE_URL defaults to the local network that `pnpm start` runs.
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.OPENAI_BASE_URL ?? "http://127.0.0.1:8080/v1",
  apiKey: process.env.OPENGATEWAY_API_KEY ?? process.env.OPENAI_API_KEY,
});

const models = await client.models.list();
const model = process.env.OPENGATEWAY_EXAMPLE_MODEL ?? models.data[0]?.id;
if (!model) throw new Error("the network serves no model right now");

const stream = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: process.argv[2] ?? "Once upon a time" }],
  max_tokens: 60,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  process.stdout.write(chunk.choices[0]?.delta.content ?? "");
  if (chunk.usage)
    process.stdout.write(
      `\n\n[${model}: ${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens]\n`,
    );
}
