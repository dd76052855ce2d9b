// The TypeScript client against a live Runwire server: RUNWIRE_TEST_SERVER (host:port) and
// RUNWIRE_TEST_API_KEY are set by tests/client/test_typescript.py, which starts the server.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as net from "node:net";
import { test } from "node:test";

import { Code, RunwireClient, RunwireError, textPart } from "../src/index.js";

const server = process.env.RUNWIRE_TEST_SERVER ?? "";
const apiKey = process.env.RUNWIRE_TEST_API_KEY ?? "";
assert.ok(server, "RUNWIRE_TEST_SERVER is not set: run these tests through pytest (tests/client/test_typescript.py)");

function client(address = server): RunwireClient {
  return new RunwireClient({ address, apiKey, timeoutMs: 30_000 });
}

async function failure(call: Promise<unknown>): Promise<RunwireError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof RunwireError, `not a RunwireError: ${String(error)}`);
    return error;
  }
  assert.fail("the call succeeded");
}

async function newSession(c: RunwireClient): Promise<string> {
  const agent = await c.agents.createAgent({ agent: { displayName: "ts" } });
  return (await c.sessions.createSession({ session: { agent: agent.name } })).name;
}

/** Forwards TCP to the server and cuts every connection once `cutAfter` bytes came back from it. */
class Proxy {
  private readonly sockets = new Set<net.Socket>();
  private readonly listener: net.Server;
  cuts = 0;
  cutAfter: number | undefined;

  constructor(target: string) {
    const [host, port] = target.split(":");
    this.listener = net.createServer((downstream) => {
      const upstream = net.connect(Number(port), host);
      this.sockets.add(downstream).add(upstream);
      downstream.pipe(upstream);
      upstream.on("data", (chunk: Buffer) => {
        if (this.cutAfter !== undefined && chunk.length >= this.cutAfter) {
          downstream.write(chunk.subarray(0, this.cutAfter));
          this.cut();
          return;
        }
        if (this.cutAfter !== undefined) {
          this.cutAfter -= chunk.length;
        }
        downstream.write(chunk);
      });
      for (const socket of [downstream, upstream]) {
        socket.on("error", () => {});
        socket.on("close", () => {
          this.sockets.delete(socket);
          downstream.destroy();
          upstream.destroy();
        });
      }
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.listener.listen(0, "127.0.0.1", resolve));
    return `127.0.0.1:${(this.listener.address() as net.AddressInfo).port}`;
  }

  cut(): void {
    this.cutAfter = undefined;
    this.cuts += 1;
    for (const socket of this.sockets) {
      socket.resetAndDestroy();
    }
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.listener.close(resolve));
  }
}

test("agents are created, read and listed; failures carry their details", async () => {
  const c = client();
  const agent = await c.agents.createAgent({ agent: { displayName: "Support" } });
  assert.equal((await c.agents.getAgent({ name: agent.name })).displayName, "Support");

  const missing = await failure(c.agents.getAgent({ name: "agents/nobody" }));
  assert.equal(missing.code, Code.NotFound);
  assert.equal(missing.codeName, "NOT_FOUND");
  assert.equal(missing.reason, "AGENT_NOT_FOUND");
  assert.equal(missing.domain, "runwire.dev");
  assert.equal(missing.errorMetadata["resource"], "agents/nobody");
  assert.ok(missing.requestId);

  const bad = await failure(c.agents.createAgent({ agent: { displayName: "" }, agentId: "X!" }));
  assert.equal(bad.code, Code.InvalidArgument);
  const fields = bad.fieldViolations.map((v) => v.field);
  assert.ok(fields.includes("agent.display_name") && fields.includes("agent_id"), fields.join(","));
});

test("credentials go as x-api-key or as a bearer token; calls without are refused", async () => {
  const anonymous = new RunwireClient({ address: server, timeoutMs: 30_000 });
  const refused = await failure(anonymous.agents.listAgents({}));
  assert.equal(refused.code, Code.Unauthenticated);
  assert.equal(refused.reason, "UNAUTHENTICATED");
  let asked = 0;
  const bearer = new RunwireClient({ address: server, timeoutMs: 30_000, bearerToken: () => (asked++, apiKey) });
  await bearer.agents.listAgents({});
  await bearer.agents.listAgents({});
  assert.equal(asked, 2, "a fresh token for each call");
});

test("paginate follows page tokens", async () => {
  const c = client();
  const suite = `ts-${randomBytes(4).toString("hex")}`;
  const created = new Set<string>();
  for (let i = 0; i < 5; i++) {
    created.add((await c.agents.createAgent({ agent: { displayName: `p${i}`, labels: { suite } } })).name);
  }
  const listed: string[] = [];
  for await (const agent of c.paginate(c.agents.listAgents, { pageSize: 2, filter: `labels.suite = "${suite}"` }, (r) => r.agents)) {
    listed.push(agent.name);
  }
  assert.equal(listed.length, 5);
  assert.deepEqual(new Set(listed), created);
});

test("a run streams its text", async () => {
  const c = client();
  const session = await newSession(c);
  let text = "";
  const stream = c.executeAgent({ session, input: [textPart("hello")] });
  for await (const event of stream) {
    if (event.payload.case === "textDelta") {
      text += event.payload.value.text;
    }
  }
  assert.equal(text, "You said: hello");
  assert.ok(stream.run.startsWith("runs/"));
  assert.equal(stream.resumes, 0);
});

test("a run stream resumes after the connection is cut mid-text and loses nothing", async () => {
  const proxy = new Proxy(server);
  const address = await proxy.start();
  try {
    const c = client(address);
    const session = await newSession(client());
    const tokens = 5000;
    proxy.cutAfter = 8000;
    const stream = c.executeAgent({ session, input: [textPart(`[[tokens:${tokens}]]`)] });
    let text = "";
    let lastSeq = 0n;
    for await (const event of stream) {
      assert.ok(event.seq > lastSeq, "events in order, none twice");
      lastSeq = event.seq;
      if (event.payload.case === "textDelta") {
        text += event.payload.value.text;
      }
    }
    assert.equal(proxy.cuts, 1);
    assert.ok(stream.resumes >= 1);
    const expected = Array.from({ length: tokens }, (_, i) => `t${i + 1}`).join(" ");
    assert.equal(text.trim(), expected);
    const run = await client().runs.getRun({ name: stream.run });
    assert.equal(run.output?.text, text);
    assert.equal(run.lastSeq, lastSeq);
  } finally {
    await proxy.stop();
  }
});

test("crews have the standard methods, and a crew run streams its plan, its children's events and its answer", async () => {
  const c = client();
  // Tokens as fast as they are read, so the crew's child runs end quickly.
  const fast = { options: { tokens_per_second: 100000 } };
  const researcher = await c.agents.createAgent({ agent: { displayName: "Researcher", model: fast } });
  const writer = await c.agents.createAgent({ agent: { displayName: "Writer", model: fast } });
  const crew = await c.crews.createCrew({
    crew: {
      displayName: "TS blog",
      members: [
        { id: "research", agent: researcher.name },
        { id: "write", agent: writer.name },
      ],
      tasks: [
        { id: "facts", description: "[[tokens:3]]", member: "research" },
        { id: "post", description: "Write the post", member: "write", context: ["facts"] },
      ],
    },
  });
  assert.equal((await c.crews.getCrew({ name: crew.name })).displayName, "TS blog");
  const renamed = await c.crews.updateCrew({ crew: { name: crew.name, displayName: "Blog" }, updateMask: { paths: ["display_name"] } });
  assert.equal(renamed.displayName, "Blog");
  assert.equal(renamed.tasks.length, 2);

  const stream = c.executeCrew(crew.name, "Tides");
  let facts = "";
  const copied = new Set<string>();
  let last;
  for await (const event of stream) {
    last = event;
    if (event.payload.case === "childRunEvent") {
      const child = event.payload.value;
      copied.add(`${child.crewMember}/${child.crewTask}`);
      if (child.crewTask === "facts" && child.event?.payload.case === "textDelta") {
        facts += child.event.payload.value.text;
      }
    }
  }
  assert.equal(last?.payload.case, "runCompleted");
  assert.deepEqual([...copied].sort(), ["research/facts", "write/post"]);
  assert.equal(facts, "t1 t2 t3");
  const tasks = stream.plan?.tasks ?? [];
  assert.deepEqual(tasks.map((t) => t.id), ["facts", "post"]);
  assert.equal(tasks[1].output, stream.text);
  const run = await c.runs.getRun({ name: stream.run });
  assert.equal(run.crew, crew.name);
  assert.equal(run.output?.text, stream.text);
  const children = [];
  for await (const child of c.paginate(c.runs.listRuns, { filter: `parent_run = "${stream.run}"`, orderBy: "create_time" }, (r) => r.runs)) {
    children.push(child.crewTask);
  }
  assert.deepEqual(children, ["facts", "post"]);

  await c.crews.deleteCrew({ name: crew.name });
  const missing = await failure(c.crews.getCrew({ name: crew.name }));
  assert.equal(missing.code, Code.NotFound);
  assert.equal(missing.reason, "CREW_NOT_FOUND");
});
