/**
 * Commands over HTTP: dispatch a command through the `CommandBus` with the request's identity,
 * and answer with the stream's version as the ETag.
 *
 * - The command id is derived from the `Idempotency-Key` (scoped to the client) and the request's
 *   hash, so even a retry after the stored response expired is answered, not decided again.
 * - The correlation id comes from the request (`X-Correlation-Id`); the causation id is the
 *   request id; both, and the request id, land in every event's metadata, with the key's hash
 *   (`idempotencyKeyHash`), never the key itself (since 0.3.0).
 * - `If-Match: "n"` becomes `Exact(n)`: no conflict retry, and a mismatch answers 412 with
 *   `currentVersion`. `If-Match: *` asks only that the stream exists. A weak tag `W/"n"` never
 *   matches (strong comparison, RFC 9110): 412.
 * - Errors become problems: a domain rejection 409 with the rule in `detail` (or what
 *   `rejection` maps it to), a conflict 409 (412 under If-Match), a duplicate event id 409, an
 *   invalid command 400; infrastructure failures stay defects (500, logged).
 *
 * @since 0.1.0
 */
import { CommandBus, type CommandHandler, type Errors, EventStore, Uuid } from "@eventline/core"
import type { Tagged } from "@eventline/core/Aggregate"
import { Effect, Schema } from "effect"
import { HttpApiSchema } from "effect/http-api"
import * as Idempotency from "./Idempotency.ts"
import * as Preconditions from "./Preconditions.ts"
import * as Problem from "./Problem.ts"
import * as RequestContext from "./RequestContext.ts"

/**
 * The request headers of a command endpoint (for decoding and for OpenAPI).
 *
 * @category schemas
 * @since 0.1.0
 */
export const Headers = Schema.Struct({
  "if-match": Schema.optionalKey(Preconditions.IfMatch),
  "idempotency-key": Schema.optionalKey(Idempotency.Key),
  "x-request-id": Schema.optionalKey(Schema.String),
  "x-correlation-id": Schema.optionalKey(Schema.String)
})

/**
 * The response headers of a command: the ETag (the stream version), and a Location for creations.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ResponseHeaders = {
  etag: Schema.String.annotate({ description: 'The stream version after the command, e.g. "1".' })
}

/**
 * A command's success body with its ETag header, for an endpoint's `success`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const success = <S extends Schema.Top>(body: S) => HttpApiSchema.WithHeaders(body, ResponseHeaders)

/**
 * A creation's success (201) with ETag and Location.
 *
 * @category schemas
 * @since 0.1.0
 */
export const created = <S extends Schema.Top>(body: S) =>
  HttpApiSchema.WithHeaders(body, {
    ...ResponseHeaders,
    location: Schema.String.annotate({ description: "The URL of the created resource." })
  }).pipe(HttpApiSchema.status(201))

/**
 * @category models
 * @since 0.1.0
 */
export interface DispatchOptions {
  /** The decoded `If-Match` header. */
  readonly ifMatch?: Preconditions.Precondition | undefined
  /** The stream the command acts on (needed for `If-Match: *`, and for `currentVersion` in a 412). */
  readonly streamId?: string | undefined
  /** Turn a domain rejection into a problem; the default is a 409 with the rejection's message. */
  readonly rejection?: ((rejection: unknown) => Problem.Problem | undefined) | undefined
}

const rejectionName = (rejection: unknown): string | undefined =>
  typeof rejection === "object" && rejection !== null && "_tag" in rejection && typeof rejection._tag === "string"
    ? rejection._tag
    : undefined

const rejectionMessage = (rejection: unknown): string =>
  typeof rejection === "object" && rejection !== null && "message" in rejection && typeof rejection.message === "string"
    ? rejection.message
    : String(rejection)

/**
 * The default problem of a domain rejection: 409, the rule in `detail`, its name in `rejection`.
 *
 * @category problems
 * @since 0.1.0
 */
export const rejected = (rejection: unknown, status: 404 | 409 | 422 = 409): Problem.Problem => {
  const name = rejectionName(rejection)
  return Problem.make({
    status,
    type: status === 404 ? Problem.types.notFound : Problem.types.rejected,
    title: status === 404 ? "Not found" : "The command was rejected by a domain rule",
    detail: rejectionMessage(rejection),
    ...(name === undefined ? {} : { rejection: name })
  })
}

/**
 * A command error as a problem. Infrastructure failures are not problems: they stay failures of
 * their own (500, logged).
 *
 * @category problems
 * @since 0.1.0
 */
export const toProblem = (
  error: Exclude<CommandBus.CommandError, Errors.InfrastructureError>,
  options?: DispatchOptions
): Problem.Problem => {
  switch (error._tag) {
    case "DecisionRejected":
      return options?.rejection?.(error.rejection) ?? rejected(error.rejection)
    case "ConcurrencyConflict":
      return options?.ifMatch !== undefined
        ? Problem.make({
            status: 412,
            type: Problem.types.preconditionFailed,
            title: "The stream is not at the expected version",
            detail: `If-Match expected version ${error.expected}, the stream is at version ${error.actual}`,
            currentVersion: error.actual
          })
        : Problem.make({
            status: 409,
            type: Problem.types.concurrencyConflict,
            title: "A concurrent change won",
            detail: `the stream changed concurrently and the retries were exhausted; it is at version ${error.actual}`,
            currentVersion: error.actual
          })
    case "DuplicateEventId":
      return Problem.make({
        status: 409,
        type: Problem.types.duplicate,
        title: "Duplicate",
        detail: error.message
      })
    case "InvalidCommand":
      return Problem.badRequest(error.message)
    case "UnknownCommand":
      return Problem.badRequest(error.message)
    case "InvalidEvent":
      return Problem.make({
        status: 409,
        type: Problem.types.streamConflict,
        title: "The stream cannot take this command",
        detail: error.message
      })
  }
}

/**
 * The command context of the current request.
 *
 * @category context
 * @since 0.1.0
 */
export const commandContext = Effect.fnUntraced(function* (ifMatch?: Preconditions.Precondition) {
  const request = yield* RequestContext.RequestContext
  const idempotency = yield* RequestContext.CurrentIdempotency
  return {
    commandId:
      idempotency === undefined ? undefined : Uuid.fromParts("http", idempotency.keyHash, idempotency.requestHash),
    correlationId: request.correlationId,
    causationId: request.requestId,
    expectedVersion: ifMatch?._tag === "Version" ? ifMatch.version : undefined,
    metadata: {
      requestId: request.requestId,
      ...(idempotency === undefined ? {} : { idempotencyKeyHash: idempotency.keyHash })
    }
  } satisfies CommandHandler.CommandContext
})

/**
 * Dispatch a command for the current request. Fails with a problem for everything the client
 * can act on; infrastructure failures are defects (500).
 *
 * @category dispatching
 * @since 0.1.0
 */
export const dispatch = Effect.fn("Http.dispatchCommand")(function* (
  command: Tagged,
  options?: DispatchOptions
): Effect.fn.Return<
  CommandHandler.CommandResult,
  Problem.Problem,
  CommandBus.CommandBus | EventStore.EventStore | RequestContext.RequestContext
> {
  yield* Effect.annotateCurrentSpan({ "eventline.command": command._tag })
  const ifMatch = options?.ifMatch
  if (ifMatch?._tag === "Weak") {
    // RFC 9110: If-Match uses the strong comparison, and a weak tag never matches
    const streamId = options?.streamId
    const store = yield* EventStore.EventStore
    const version = streamId === undefined ? undefined : yield* Effect.orDie(store.streamVersion(streamId))
    return yield* Problem.make({
      status: 412,
      type: Problem.types.preconditionFailed,
      title: "A weak entity tag never matches",
      detail: `If-Match compares strongly: W/"${ifMatch.version}" never matches; send the strong tag "${ifMatch.version}"`,
      ...(version === undefined ? {} : { currentVersion: version })
    })
  }
  if (ifMatch?._tag === "Exists" && options?.streamId !== undefined) {
    const store = yield* EventStore.EventStore
    const version = yield* Effect.orDie(store.streamVersion(options.streamId))
    if (version === 0) {
      return yield* Problem.make({
        status: 412,
        type: Problem.types.preconditionFailed,
        title: "The stream does not exist",
        detail: `If-Match: * requires stream '${options.streamId}' to exist`,
        currentVersion: 0
      })
    }
  }
  const bus = yield* CommandBus.CommandBus
  const context = yield* commandContext(options?.ifMatch)
  return yield* bus.dispatch(command, context).pipe(
    Effect.catchTag("InfrastructureError", (error) => Effect.die(error)),
    Effect.mapError((error) => toProblem(error, options))
  )
})

/**
 * The `etag` response header of a version.
 *
 * @category responses
 * @since 0.1.0
 */
export const etag = (version: number) => ({ etag: Preconditions.etag(version) })

/**
 * A predicate on the name (`_tag`) of a rejection, for `rejection` mappings.
 *
 * @category problems
 * @since 0.1.0
 */
export const isRejectionNamed =
  (...names: ReadonlyArray<string>) =>
  (rejection: unknown): boolean =>
    names.includes(rejectionName(rejection) ?? "")
