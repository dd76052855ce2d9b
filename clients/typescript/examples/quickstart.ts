import { Code, RunwireClient, RunwireError, textPart } from "../src/index.js";

// A JWT in RUNWIRE_TOKEN is used instead of the API key when set, as by the CLI.
const token = process.env.RUNWIRE_TOKEN || undefined;
const client = new RunwireClient({
  address: process.env.RUNWIRE_SERVER ?? "127.0.0.1:50051",
  ...(token ? { bearerToken: token } : { apiKey: process.env.RUNWIRE_API_KEY || undefined }),
  timeoutMs: 30_000,
});

const agent = await client.agents.createAgent({ agent: { displayName: "Echo" } });
const session = await client.sessions.createSession({ session: { agent: agent.name } });

// The run's events as they happen; the stream resumes by itself if the connection drops.
for await (const event of client.executeAgent({ session: session.name, input: [textPart("hello")] })) {
  if (event.payload.case === "textDelta") {
    process.stdout.write(event.payload.value.text);
  }
}
process.stdout.write("\n");

// paginate follows next_page_token.
for await (const each of client.paginate(client.agents.listAgents, { pageSize: 10 }, (page) => page.agents)) {
  console.log(each.name, each.displayName);
}

try {
  await client.agents.getAgent({ name: "agents/does-not-exist" });
} catch (error) {
  if (!(error instanceof RunwireError) || error.code !== Code.NotFound) throw error;
  console.log(error.codeName, error.reason, error.errorMetadata["resource"]);
}

// Close the connection: Node exits now instead of when the idle connection times out.
client.close();
