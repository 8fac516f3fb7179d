/**
 * The typed errors of Eventline. Each says what went wrong in terms a caller can act on.
 *
 * @since 0.1.0
 */
import { Data, Schema } from "effect"

/**
 * Another writer got there first: the stream is not at the expected version.
 * `actual` is the stream's version now (0 = no stream).
 *
 * @category errors
 * @since 0.1.0
 */
export class ConcurrencyConflict extends Schema.TaggedError<ConcurrencyConflict>()("ConcurrencyConflict", {
  streamId: Schema.String,
  expected: Schema.String,
  actual: Schema.Int
}) {
  override get message(): string {
    return `stream '${this.streamId}' is at version ${this.actual}, expected ${this.expected}`
  }
}

/**
 * @category errors
 * @since 0.1.0
 */
export class StreamNotFound extends Schema.TaggedError<StreamNotFound>()("StreamNotFound", {
  streamId: Schema.String
}) {
  override get message(): string {
    return `stream '${this.streamId}' does not exist`
  }
}

/**
 * An event that cannot be stored or read: it fails its schema, cannot be encoded, or an append
 * is malformed (no events, a stream type that differs from the stream's).
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidEvent extends Schema.TaggedError<InvalidEvent>()("InvalidEvent", {
  streamId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid event for stream '${this.streamId}': ${this.reason}`
  }
}

/**
 * An event id that is already stored somewhere else, or with other content: ids are unique and
 * an idempotent retry must repeat the same events at the same place.
 *
 * @category errors
 * @since 0.1.0
 */
export class DuplicateEventId extends Schema.TaggedError<DuplicateEventId>()("DuplicateEventId", {
  eventId: Schema.String,
  streamId: Schema.String
}) {
  override get message(): string {
    return `event id ${this.eventId} is already stored with other content or at another place (append to '${this.streamId}')`
  }
}

/**
 * A command whose tag no handler is registered for.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnknownCommand extends Schema.TaggedError<UnknownCommand>()("UnknownCommand", {
  commandType: Schema.String
}) {
  override get message(): string {
    return `no handler is registered for command '${this.commandType}'`
  }
}

/**
 * A command that fails its schema.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidCommand extends Schema.TaggedError<InvalidCommand>()("InvalidCommand", {
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid command: ${this.reason}`
  }
}

/**
 * A failure of the world outside: the database, the broker, the network. `operation` names what
 * was attempted; the cause is kept for the log, never shown to clients.
 *
 * @category errors
 * @since 0.1.0
 */
export class InfrastructureError extends Schema.TaggedError<InfrastructureError>()("InfrastructureError", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `${this.operation} failed`
  }
}

/**
 * Wrap a storage or transport failure as an `InfrastructureError` of `operation` (for `Effect.mapError`).
 *
 * @category constructors
 * @since 0.2.0
 */
export const infrastructure =
  (operation: string) =>
  (cause: unknown): InfrastructureError =>
    new InfrastructureError({ operation, cause })

/**
 * The domain said no. `rejection` is the domain's own typed error, so callers can match on it.
 *
 * @category errors
 * @since 0.1.0
 */
export class DecisionRejected<out Rejection> extends Data.TaggedError("DecisionRejected")<{
  readonly streamId: string
  readonly commandType: string
  readonly rejection: Rejection
}> {
  override get message(): string {
    const rejection: unknown = this.rejection
    const detail =
      typeof rejection === "object" &&
      rejection !== null &&
      "message" in rejection &&
      typeof rejection.message === "string"
        ? rejection.message
        : String(rejection)
    return `command '${this.commandType}' on stream '${this.streamId}' was rejected: ${detail}`
  }
}
