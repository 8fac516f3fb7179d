/**
 * A live tail of the global log: everything after a position, in log order, then every event as
 * it commits. It reads with the store's gap-safe `readAll` (an event that commits late is never
 * skipped), sleeps until a `CommitSignal` wakes it (polling as a fallback), and is rendered as
 * Server-Sent Events whose `id` is the event's position, so a client that reconnects with
 * `Last-Event-ID` resumes exactly after the last event it received.
 *
 * Since 0.3.0 a response takes its events from a shared `LiveFeed` when one is given (one reader
 * of the log for every open tail; `Streams.layerHandlers` makes one): `tail` reads the log on its
 * own and suits a single consumer.
 *
 * @since 0.1.0
 */
import { CommitSignal, type Errors, type EventEnvelope, EventStore, Position } from "@eventline/core"
import { Duration, Effect, Option, Queue, Stream } from "effect"
import { Sse } from "effect/encoding"
import { HttpServerResponse } from "effect/http"
import * as LiveFeed from "./LiveFeed.ts"
import * as Shutdown from "./Shutdown.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** How many events one read fetches. Default: 100. */
  readonly batchSize?: number | undefined
  /** How often to look for new events when no commit signal arrives. Default: 1 second. */
  readonly pollInterval?: Duration.Input | undefined
  readonly streamTypes?: ReadonlyArray<string> | undefined
}

/**
 * Every event after `after`, then the events committed from now on; never ends by itself.
 *
 * @category streams
 * @since 0.1.0
 */
export const tail = (
  after: Position.Position,
  options?: Options
): Stream.Stream<EventEnvelope.RecordedEvent, Errors.InfrastructureError, EventStore.EventStore> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const batchSize = options?.batchSize ?? 100
      const pollInterval = Duration.fromInputUnsafe(options?.pollInterval ?? "1 second")
      const wakeUps = yield* Queue.sliding<void>(1)
      const signal = yield* Effect.serviceOption(CommitSignal.CommitSignal)
      if (Option.isSome(signal)) {
        yield* signal.value.changes.pipe(
          Stream.runForEach(() => Queue.offer(wakeUps, undefined)),
          Effect.forkScoped
        )
      }
      const awaitCommit = Effect.asVoid(Queue.take(wakeUps).pipe(Effect.timeoutOption(pollInterval)))
      // one page per step; after a short page (caught up), wait for a commit before the next read
      return Stream.paginate({ cursor: after, caughtUp: false }, ({ cursor, caughtUp }) =>
        Effect.gen(function* () {
          if (caughtUp) yield* awaitCommit
          const batch = yield* Stream.runCollect(
            store.readAll({ after: cursor, batchSize, streamTypes: options?.streamTypes }).pipe(Stream.take(batchSize))
          )
          const last = batch[batch.length - 1]
          const next = { cursor: last?.position ?? cursor, caughtUp: batch.length < batchSize }
          return [batch, Option.some(next)] as const
        })
      )
    })
  )

/**
 * One event as an SSE message (effect's `Sse` encoder): `id` is its position, `data` the
 * envelope as JSON.
 *
 * @category encoding
 * @since 0.1.0
 */
export const toSse = (event: EventEnvelope.RecordedEvent): string =>
  Sse.encoder.write({ _tag: "Event", event: "message", id: String(event.position), data: JSON.stringify(event) })

const encoder = new TextEncoder()
// an SSE comment line (effect's encoder writes events and retries only)
const keepAlive = encoder.encode(": keep-alive\n\n")
const retry = encoder.encode(
  Sse.encoder.write(new Sse.Retry({ duration: Duration.seconds(1), lastEventId: undefined }))
)
// a shared feed hands the same event to every tail: it is encoded once, not once per client
const encoded = new WeakMap<EventEnvelope.RecordedEvent, Uint8Array>()
const sseBytes = (event: EventEnvelope.RecordedEvent): Uint8Array => {
  const cached = encoded.get(event)
  if (cached !== undefined) return cached
  const bytes = encoder.encode(toSse(event))
  encoded.set(event, bytes)
  return bytes
}

/**
 * The SSE response of a tail: a `retry` hint first, a comment every `heartbeat` (default 15 s) so
 * proxies keep the connection, and the end of the stream when the service shuts down.
 *
 * @category responses
 * @since 0.1.0
 */
export const response = Effect.fnUntraced(function* (
  after: Position.Position | undefined,
  options?: Options & {
    /** Without a `feed` (a feed has its own `heartbeat`). Default: 15 seconds. */
    readonly heartbeat?: Duration.Input | undefined
    /** Take the events from this shared feed instead of reading the log (since 0.3.0). */
    readonly feed?: LiveFeed.LiveFeed | undefined
  }
) {
  const context = yield* Effect.context<EventStore.EventStore>()
  const shutdown = yield* Effect.serviceOption(Shutdown.Shutdown)
  const from = after ?? Position.start
  const heartbeat = options?.heartbeat ?? "15 seconds"
  const filter = options?.streamTypes === undefined ? undefined : { streamTypes: options.streamTypes }
  // a shared feed hands out the keep-alives itself (one timer for every tail, no merge per tail)
  const messages =
    options?.feed === undefined
      ? Stream.merge(
          tail(from, options).pipe(Stream.map(sseBytes)),
          Stream.tick(heartbeat).pipe(
            Stream.drop(1),
            Stream.map(() => keepAlive)
          ),
          { haltStrategy: "left" }
        )
      : options.feed
          .messages(from, filter)
          .pipe(Stream.map((message) => (message === LiveFeed.KeepAlive ? keepAlive : sseBytes(message))))
  const body = Stream.make(retry).pipe(
    Stream.concat(messages),
    Option.isSome(shutdown) ? Stream.interruptWhen(shutdown.value.await) : (stream) => stream,
    Stream.provideContext(context)
  )
  return HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
  })
})
