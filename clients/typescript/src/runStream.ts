// A run's events that survive dropped connections: after UNAVAILABLE, a stream reset the caller did
// not ask for, or an end before the terminal event, the stream asks for the rest with
// StreamRunEvents(after_seq = last seq received). A crew run's stream also holds its plan
// (crewPlanUpdated) and its child runs' events (childRunEvent): the stream keeps the latest plan, and its
// own text (the crew's final answer, never a child's tokens).
import { Code, type CallOptions } from "@connectrpc/connect";

import { RunwireError, toRunwireError } from "./errors.js";
import type { CrewPlan } from "./gen/runwire/v1/crew_pb.js";
import type { RunEvent } from "./gen/runwire/v1/run_pb.js";

export interface ResumeOptions {
  /** Give up after this many milliseconds of reconnecting without an event (default 30000). */
  timeoutMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

const TERMINAL = new Set(["runCompleted", "runFailed", "runCancelled", "runTimedOut"]);

export function isTerminal(event: RunEvent): boolean {
  return TERMINAL.has(event.payload.case ?? "");
}

/** Where a run stream is. The opener reads it to send the right request. */
export class Progress {
  finished = false;
  resumes = 0;
  plan: CrewPlan | undefined;
  text = "";
  private readonly deadline: number | undefined;

  constructor(
    public run: string,
    public lastSeq: bigint,
    timeoutMs: number | undefined,
  ) {
    this.deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  }

  /** The caller's options, with what is left of the whole stream's deadline. */
  callOptions(options: CallOptions | undefined): CallOptions {
    return this.deadline === undefined ? { ...options } : { ...options, timeoutMs: Math.max(1, this.deadline - Date.now()) };
  }

  expired(): boolean {
    return this.deadline !== undefined && Date.now() >= this.deadline;
  }
}

export class RunStream implements AsyncIterable<RunEvent> {
  private readonly progress: Progress;

  constructor(
    private readonly open: (progress: Progress) => AsyncIterable<RunEvent>,
    run: string,
    afterSeq: bigint,
    private readonly resume: ResumeOptions = {},
    timeoutMs?: number,
    private readonly signal?: AbortSignal,
  ) {
    this.progress = new Progress(run, afterSeq, timeoutMs);
  }

  /** The run's name; empty until the first event. */
  get run(): string {
    return this.progress.run;
  }

  get lastSeq(): bigint {
    return this.progress.lastSeq;
  }

  /** How many times the stream reconnected. */
  get resumes(): number {
    return this.progress.resumes;
  }

  /** A crew run's plan as its latest crewPlanUpdated holds it; undefined before one (or for an agent's run). */
  get plan(): CrewPlan | undefined {
    return this.progress.plan;
  }

  /** The run's own text so far (its textDelta events, not its children's): a crew run's final answer. */
  get text(): string {
    return this.progress.text;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    const progress = this.progress;
    const patience = this.resume.timeoutMs ?? 30_000;
    let droppedAt: number | undefined;
    let failures = 0;
    while (!progress.finished) {
      let error: RunwireError | undefined;
      try {
        for await (const event of this.open(progress)) {
          if (event.seq <= progress.lastSeq) {
            continue; // a repeated ExecuteAgent replays from seq 1
          }
          progress.run = event.run || progress.run;
          progress.lastSeq = event.seq;
          progress.finished = isTerminal(event);
          if (event.payload.case === "crewPlanUpdated") {
            progress.plan = event.payload.value.plan;
          } else if (event.payload.case === "textDelta") {
            progress.text += event.payload.value.text;
          }
          droppedAt = undefined;
          failures = 0;
          yield event;
          // After the terminal event the server ends the call; reading on to that end (rather than
          // leaving the loop) lets the call clean up its deadline timer, which would keep Node alive.
        }
      } catch (reason) {
        error = toRunwireError(reason);
        // Node reports a broken connection as UNAVAILABLE, or as a stream reset (CANCELED) that this caller never asked for.
        const dropped = error.code === Code.Unavailable || (error.code === Code.Canceled && !this.signal?.aborted);
        if (!dropped) {
          throw error;
        }
      }
      if (progress.finished) {
        return; // the call ended after the terminal event, as it should
      }
      droppedAt ??= Date.now();
      if (Date.now() - droppedAt >= patience || progress.expired()) {
        throw error ?? new Error(`the stream of ${progress.run || "the run"} ended before the run did`);
      }
      const backoff = Math.min(this.resume.maxBackoffMs ?? 2000, (this.resume.initialBackoffMs ?? 50) * 2 ** failures);
      failures += 1;
      progress.resumes += 1;
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}
