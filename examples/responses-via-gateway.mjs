// The OpenAI Responses API through an OpenGateway gateway: a streamed answer, then a follow-up
// that continues it by `previous_response_id` (the gateway keeps stored responses per API key).
//
//   OPENGATEWAY_API_KEY=... node examples/responses-via-gateway.mjs "Once upon a time"
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

const stream = client.responses.stream({
  model,
  instructions: "You tell short stories for children.",
  input: process.argv[2] ?? "Once upon a time",
  max_output_tokens: 60,
});
stream.on("response.output_text.delta", (event) => process.stdout.write(event.delta));
const first = await stream.finalResponse();

const next = await client.responses.create({
  model,
  previous_response_id: first.id,
  input: "And then?",
  max_output_tokens: 40,
});
process.stdout.write(`\n\n${next.output_text}\n`);
process.stdout.write(
  `\n[${model}: ${first.id} (${first.status}) then ${next.id}, which continued it: ${next.usage?.input_tokens} input + ${next.usage?.output_tokens} output tokens]\n`,
);
