/**
 * Reading the event store over HTTP: one stream (a page of its envelopes and the version to
 * continue from, ETag = the stream version), the global log (a page and the checkpoint to
 * continue from), and the live SSE tail of the log. `Group` declares the endpoints (add it to
 * an `HttpApi`); the handler functions implement them on the `EventStore` in context.
 *
 * @since 0.1.0
 */
import { EventEnvelope, EventStore, Position } from "@eventline/core"
import { Effect, Option, Schema, Stream } from "effect"
import { type HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import * as EventTail from "./EventTail.ts"
import * as LiveFeed from "./LiveFeed.ts"
import * as Preconditions from "./Preconditions.ts"
import * as Problem from "./Problem.ts"

/**
 * A page size: 1 to 1000.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Limit = Schema.Int.check(
  Schema.isBetween({ minimum: 1, maximum: 1000 }, { message: "a limit must be an integer from 1 to 1000" })
)

/**
 * A stream version to read from: 1 or more.
 *
 * @category schemas
 * @since 0.1.0
 */
export const FromVersion = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(1, { message: "a version must be an integer of at least 1" })
)

/**
 * @category schemas
 * @since 0.1.0
 */
export const StreamPage = Schema.Struct({
  streamId: Schema.String,
  /** The stream's current version. */
  version: Schema.Int,
  events: Schema.Array(EventEnvelope.RecordedEvent),
  /** Pass as `from` to read on; null at the end of the stream. */
  nextFrom: Schema.NullOr(Schema.Int)
})

/**
 * @category models
 * @since 0.1.0
 */
export type StreamPage = typeof StreamPage.Type

/**
 * @category schemas
 * @since 0.1.0
 */
export const LogPage = Schema.Struct({
  events: Schema.Array(EventEnvelope.RecordedEvent),
  /** Pass as `after` to read on (the last event's position, or the `after` given when empty). */
  checkpoint: Position.Position,
  /** Whether more events were already committed after this page. */
  hasMore: Schema.Boolean
})

/**
 * @category models
 * @since 0.1.0
 */
export type LogPage = typeof LogPage.Type

/**
 * The streams endpoints: `GET /streams/{streamId}`, `GET /events`, `GET /events/live`.
 *
 * @category api
 * @since 0.1.0
 */
export class Group extends HttpApiGroup.make("streams")
  .add(
    HttpApiEndpoint.get("readStream", "/streams/:streamId", {
      params: { streamId: EventEnvelope.StreamId },
      query: { from: Schema.optionalKey(FromVersion), limit: Schema.optionalKey(Limit) },
      success: HttpApiSchema.WithHeaders(StreamPage, { etag: Schema.String }),
      error: Problem.queryErrors
    }).annotate(OpenApi.Description, "A page of one stream's events, from version `from` (default 1)."),
    HttpApiEndpoint.get("readAll", "/events", {
      query: { after: Schema.optionalKey(Position.Position), limit: Schema.optionalKey(Limit) },
      success: LogPage,
      error: Problem.queryErrors
    }).annotate(OpenApi.Description, "A page of the global log after the checkpoint `after` (default: the start)."),
    HttpApiEndpoint.get("live", "/events/live", {
      query: { after: Schema.optionalKey(Position.Position) },
      headers: { "last-event-id": Schema.optionalKey(Position.Position) },
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/event-stream" })),
      error: Problem.queryErrors
    }).annotate(
      OpenApi.Description,
      "Server-Sent Events tailing the global log after `after` (default: the start); each message's id is the event's position, so a reconnect with Last-Event-ID resumes after it."
    )
  )
  .annotate(OpenApi.Title, "Streams") {}

/**
 * A page of one stream, with its version as the ETag. 404 when the stream has no events.
 *
 * @category handlers
 * @since 0.1.0
 */
export const readStream = Effect.fn("Streams.readStream")(function* (
  streamId: string,
  options?: { readonly from?: number | undefined; readonly limit?: number | undefined }
) {
  const store = yield* EventStore.EventStore
  const limit = options?.limit ?? 100
  const version = yield* Effect.orDie(store.streamVersion(streamId))
  if (version === 0) return yield* Problem.notFound(`stream '${streamId}' does not exist`)
  const events = yield* store.readStream(streamId, { from: options?.from ?? 1, maxCount: limit }).pipe(
    Stream.runCollect,
    Effect.catchTag("StreamNotFound", () => Effect.succeed([])),
    Effect.orDie
  )
  const last = events[events.length - 1]
  const page: StreamPage = {
    streamId,
    version,
    events,
    nextFrom: last !== undefined && last.version < version ? last.version + 1 : null
  }
  return HttpApiSchema.withHeaders({ body: page, headers: { etag: Preconditions.etag(version) } })
})

/**
 * A page of the global log after a checkpoint.
 *
 * @category handlers
 * @since 0.1.0
 */
export const readAll = Effect.fn("Streams.readAll")(function* (options?: {
  readonly after?: Position.Position | undefined
  readonly limit?: number | undefined
}) {
  const store = yield* EventStore.EventStore
  const limit = options?.limit ?? 100
  const after = options?.after ?? Position.start
  const read = yield* store
    .readAll({ after, batchSize: limit + 1 })
    .pipe(Stream.take(limit + 1), Stream.runCollect, Effect.orDie)
  const events = read.slice(0, limit)
  const last = events[events.length - 1]
  return { events, checkpoint: last?.position ?? after, hasMore: read.length > limit } satisfies LogPage
})

/**
 * The live tail as SSE, after `Last-Event-ID` when the client reconnects, else after `after`.
 *
 * @category handlers
 * @since 0.1.0
 */
export const live = (
  after: Position.Position | undefined,
  lastEventId: Position.Position | undefined,
  /** The shared reader to take the events from (since 0.3.0; without it the tail reads the log itself). */
  feed?: LiveFeed.LiveFeed
) =>
  EventTail.response(
    Option.getOrUndefined(Option.orElse(Option.fromUndefinedOr(lastEventId), () => Option.fromUndefinedOr(after))),
    { feed }
  )

/**
 * The handlers of `Group` on the `EventStore` in context, for an API that includes the group:
 * `HttpApi.make("app").add(Streams.Group)` is served with `Streams.layerHandlers(Api)`.
 *
 * Since 0.3.0 every live tail takes its events from one shared reader of the log
 * (`LiveFeed`): the `LiveFeed.Service` in context when there is one, else a feed made with
 * `options.live` that lives as long as the layer.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerHandlers = <ApiId extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof Group>,
  options?: { readonly live?: LiveFeed.Options | undefined }
) =>
  // only this group of the API is used; seeing the API as having just it keeps the types concrete
  HttpApiBuilder.group(api as HttpApi.HttpApi<ApiId, typeof Group>, "streams", (handlers) =>
    Effect.gen(function* () {
      const given = yield* Effect.serviceOption(LiveFeed.Service)
      const feed = Option.isSome(given) ? given.value : yield* LiveFeed.make(options?.live)
      return handlers
        .handle("readStream", ({ params, query }) => readStream(params.streamId, query))
        .handle("readAll", ({ query }) => readAll(query))
        .handle("live", ({ query, headers }) => live(query.after, headers["last-event-id"], feed))
    })
  )
