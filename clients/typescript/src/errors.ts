// Typed errors: a failed call's status code and its google.rpc.Status details, parsed once.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  LocalizedMessageSchema,
  PreconditionFailureSchema,
  QuotaFailureSchema,
  RequestInfoSchema,
  RetryInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";

export interface FieldViolation {
  field: string;
  description: string;
  reason: string;
}

export interface QuotaViolation {
  subject: string;
  description: string;
}

export interface PreconditionViolation {
  type: string;
  subject: string;
  description: string;
}

/**
 * A failed call. `code` is the gRPC status code (`Code.NotFound`...), `codeName` its
 * name as the server sent it (`NOT_FOUND`); the rest comes from the status details.
 * `cause` is the ConnectError it was made from; `findDetails(schema)` unpacks any other detail type.
 */
export class RunwireError extends Error {
  override name = "RunwireError";
  readonly code: Code;
  /** The status message, without the code prefix. */
  readonly rawMessage: string;
  /** Response headers and trailers of the failed call. */
  readonly metadata: Headers;
  override readonly cause: ConnectError;
  /** ErrorInfo: a stable reason such as `AGENT_NOT_FOUND`, its domain and metadata. */
  readonly reason: string = "";
  readonly domain: string = "";
  readonly errorMetadata: Record<string, string> = {};
  /** BadRequest field violations. */
  readonly fieldViolations: FieldViolation[] = [];
  /** QuotaFailure violations. */
  readonly quotaViolations: QuotaViolation[] = [];
  /** PreconditionFailure violations. */
  readonly preconditionViolations: PreconditionViolation[] = [];
  /** RetryInfo: how long to wait before trying again, in milliseconds. */
  readonly retryDelayMs: number | undefined;
  readonly requestId: string = "";
  /** LocalizedMessage in the caller's `accept-language`. */
  readonly localizedMessage: { locale: string; message: string } | undefined;

  constructor(error: ConnectError) {
    super(error.message);
    this.code = error.code;
    this.rawMessage = error.rawMessage;
    this.metadata = error.metadata;
    this.cause = error;
    const info = this.findDetails(ErrorInfoSchema)[0];
    if (info !== undefined) {
      this.reason = info.reason;
      this.domain = info.domain;
      this.errorMetadata = { ...info.metadata };
      this.requestId = info.metadata["request_id"] ?? "";
    }
    for (const bad of this.findDetails(BadRequestSchema)) {
      this.fieldViolations.push(...bad.fieldViolations.map((v) => ({ field: v.field, description: v.description, reason: v.reason })));
    }
    for (const quota of this.findDetails(QuotaFailureSchema)) {
      this.quotaViolations.push(...quota.violations.map((v) => ({ subject: v.subject, description: v.description })));
    }
    for (const failure of this.findDetails(PreconditionFailureSchema)) {
      this.preconditionViolations.push(
        ...failure.violations.map((v) => ({ type: v.type, subject: v.subject, description: v.description })),
      );
    }
    const retry = this.findDetails(RetryInfoSchema)[0]?.retryDelay;
    if (retry !== undefined) {
      this.retryDelayMs = Number(retry.seconds) * 1000 + retry.nanos / 1e6;
    }
    this.requestId = this.findDetails(RequestInfoSchema)[0]?.requestId || this.requestId;
    const localized = this.findDetails(LocalizedMessageSchema)[0];
    if (localized !== undefined) {
      this.localizedMessage = { locale: localized.locale, message: localized.message };
    }
  }

  findDetails<Desc extends DescMessage>(schema: Desc): MessageShape<Desc>[] {
    return this.cause.findDetails(schema);
  }

  /** The status code's name as in the gRPC spec: `NOT_FOUND`, `INVALID_ARGUMENT`... */
  get codeName(): string {
    return Code[this.code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  }
}

/**
 * Any failure as a RunwireError. A connection that broke (Node reports ECONNRESET and the like,
 * which Connect calls ABORTED) is UNAVAILABLE, as other gRPC clients report it: nothing came from the server.
 */
export function toRunwireError(reason: unknown): RunwireError {
  if (reason instanceof RunwireError) {
    return reason;
  }
  const error = ConnectError.from(reason);
  if (error.code === Code.Aborted && isSystemError(error.cause)) {
    return new RunwireError(new ConnectError(error.rawMessage, Code.Unavailable, error.metadata, undefined, error.cause));
  }
  return new RunwireError(error);
}

function isSystemError(cause: unknown): boolean {
  return cause instanceof Error && typeof (cause as NodeJS.ErrnoException).code === "string";
}
