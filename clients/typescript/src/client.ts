// RunwireClient: clients of the services over one gRPC transport, with credentials, a default
// deadline, typed errors (RunwireError) and run streams that resume after a drop.
import type { DescService, MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type CallOptions, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { toRunwireError } from "./errors.js";
import type { ContentPartSchema } from "./gen/runwire/v1/common_pb.js";
import { AgentService } from "./gen/runwire/v1/agent_pb.js";
import { CrewService } from "./gen/runwire/v1/crew_pb.js";
import { MessageService } from "./gen/runwire/v1/message_pb.js";
import { RunService, type ExecuteAgentRequestSchema } from "./gen/runwire/v1/run_pb.js";
import { SessionService } from "./gen/runwire/v1/session_pb.js";
import { RunStream, type ResumeOptions } from "./runStream.js";

export interface RunwireClientOptions {
  /** The server: `host:port` (plaintext), or a URL, `https://host:port` for TLS. */
  address: string;
  /** Sent as `x-api-key` on every call. */
  apiKey?: string;
  /** Sent as `authorization: Bearer …` on every call: an API key or a JWT, or a function returning a fresh one. */
  bearerToken?: string | (() => string);
  /** Default deadline of every call, in milliseconds; none when omitted. */
  timeoutMs?: number;
  /** How run streams reconnect after a dropped connection. */
  resume?: ResumeOptions;
  /** More interceptors, run after the credentials are set. */
  interceptors?: Interceptor[];
}

/** A text content part, for the `input` of runs and the `content` of messages. */
export function textPart(text: string): MessageInitShape<typeof ContentPartSchema> {
  return { kind: { case: "text", value: text } };
}

function baseUrl(address: string): string {
  return /^[a-z]+:\/\//.test(address) ? address : `http://${address}`;
}

/** Adds the credentials to every request. */
function credentials(options: RunwireClientOptions): Interceptor {
  if (options.apiKey && options.bearerToken) {
    throw new Error("give apiKey or bearerToken, not both");
  }
  return (next) => async (request) => {
    if (options.apiKey) {
      request.header.set("x-api-key", options.apiKey);
    } else if (options.bearerToken) {
      const token = typeof options.bearerToken === "function" ? options.bearerToken() : options.bearerToken;
      request.header.set("authorization", `Bearer ${token}`);
    }
    return next(request);
  };
}

async function* translated<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (reason) {
    throw toRunwireError(reason);
  }
}

/** The client of a service whose every method throws RunwireError, for a failed call or in the middle of a stream. */
function withTypedErrors<S extends DescService>(service: S, client: Client<S>): Client<S> {
  const methods = client as Record<string, (...args: unknown[]) => unknown>;
  const wrapped: Record<string, unknown> = {};
  for (const method of service.methods) {
    const call = methods[method.localName];
    wrapped[method.localName] =
      method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming"
        ? (...args: unknown[]) => translated(call(...args) as AsyncIterable<unknown>)
        : (...args: unknown[]) => (call(...args) as Promise<unknown>).catch((reason) => Promise.reject(toRunwireError(reason)));
  }
  return wrapped as Client<S>;
}

export class RunwireClient {
  readonly transport: Transport;
  readonly agents: Client<typeof AgentService>;
  readonly crews: Client<typeof CrewService>;
  readonly sessions: Client<typeof SessionService>;
  readonly messages: Client<typeof MessageService>;
  readonly runs: Client<typeof RunService>;
  private readonly resume: ResumeOptions | undefined;
  // The HTTP/2 connection, held here so that close() can end it: left open, it keeps Node running
  // until its idle timeout.
  private readonly connection: Http2SessionManager;

  constructor(options: RunwireClientOptions) {
    this.connection = new Http2SessionManager(baseUrl(options.address));
    this.transport = createGrpcTransport({
      baseUrl: baseUrl(options.address),
      defaultTimeoutMs: options.timeoutMs,
      interceptors: [credentials(options), ...(options.interceptors ?? [])],
      sessionManager: this.connection,
    });
    this.resume = options.resume;
    this.agents = this.service(AgentService);
    this.crews = this.service(CrewService);
    this.sessions = this.service(SessionService);
    this.messages = this.service(MessageService);
    this.runs = this.service(RunService);
  }

  /**
   * Closes the connection, and with it any call still open, so that Node can exit at once.
   * `await using client = new RunwireClient(…)` closes it at the end of the block.
   */
  close(): void {
    this.connection.abort();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** A client of any service of the contracts, e.g. `client.service(FileService)`, with the same credentials and errors. */
  service<S extends DescService>(service: S): Client<S> {
    return withTypedErrors(service, createClient(service, this.transport));
  }

  /**
   * ExecuteAgent as a stream that resumes with StreamRunEvents(after_seq) after a dropped connection;
   * `options.timeoutMs` bounds the whole stream, resumes included. With `crew` instead of `session`
   * it executes the crew (see `executeCrew`).
   * A `requestId` is generated when none is given, so that a drop before the first event can repeat
   * the call without starting a second run.
   */
  executeAgent(request: MessageInitShape<typeof ExecuteAgentRequestSchema>, options?: CallOptions): RunStream {
    const withId = { ...request, requestId: request.requestId || crypto.randomUUID() };
    return new RunStream(
      (progress) =>
        progress.run
          ? this.runs.streamRunEvents({ run: progress.run, afterSeq: progress.lastSeq }, progress.callOptions(options))
          : this.runs.executeAgent(withId, progress.callOptions(options)),
      "",
      0n,
      this.resume,
      options?.timeoutMs,
      options?.signal,
    );
  }

  /**
   * Executes a crew (`crews/…`) as executeAgent does an agent: the crew run's events, its plan in
   * `crewPlanUpdated` (the latest in `stream.plan`), each child run's events in `childRunEvent` (with
   * `crewMember` and `crewTask`), and the final answer as its own `textDelta`s (`stream.text`).
   */
  executeCrew(crew: string, input: string, options?: CallOptions): RunStream {
    return this.executeAgent({ crew, input: [textPart(input)] }, options);
  }

  /** StreamRunEvents from `afterSeq`, resumed after a dropped connection. */
  streamRunEvents(run: string, afterSeq: bigint = 0n, options?: CallOptions): RunStream {
    return new RunStream(
      (progress) => this.runs.streamRunEvents({ run: progress.run, afterSeq: progress.lastSeq }, progress.callOptions(options)),
      run,
      afterSeq,
      this.resume,
      options?.timeoutMs,
      options?.signal,
    );
  }

  /** Every item of a List/Search method, following next_page_token: `client.paginate(client.agents.listAgents, {}, (r) => r.agents)`. */
  async *paginate<Req extends { pageToken?: string }, Res extends { nextPageToken: string }, Item>(
    method: (request: Req, options?: CallOptions) => Promise<Res>,
    request: Req,
    items: (response: Res) => Item[],
    options?: CallOptions,
  ): AsyncIterable<Item> {
    const seen = new Set<string>();
    let next: Req = { ...request };
    for (;;) {
      const response = await method(next, options);
      yield* items(response);
      const token = response.nextPageToken;
      if (!token) {
        return;
      }
      if (seen.has(token)) {
        throw new Error(`the server returned the page token ${JSON.stringify(token)} twice; stopping`);
      }
      seen.add(token);
      next = { ...request, pageToken: token };
    }
  }
}
