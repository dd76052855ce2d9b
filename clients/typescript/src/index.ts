export { RunwireClient, textPart, type RunwireClientOptions } from "./client.js";
export { RunwireError, toRunwireError, type FieldViolation, type PreconditionViolation, type QuotaViolation } from "./errors.js";
export { RunStream, isTerminal, type ResumeOptions } from "./runStream.js";
export { Code } from "@connectrpc/connect";
