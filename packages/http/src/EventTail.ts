/**
 * A live tail of the global log: everything after a position, in log order, then every event as
 * it commits. It reads with the store's gap-safe `readAll` (an event that commits late is never
 * skipped), sleeps until a `CommitSignal` wakes it (polling as a fallback), and is rendered as
 * Server-Sent Events whose `id` is the event's position, so a client that reconnects with
 * `Last-Event-ID` resumes exactly after the last event it received.
 *
 * @since 0.1.0
 */
import { CommitSignal, type Errors, type EventEnvelope, EventStore, Position } from "@eventline/core"
import { Duration, Effect, Option, Queue, Stream } from "effect"
import { Sse } from "effect/encoding"
import { HttpServerResponse } from "effect/http"
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

/**
 * The SSE response of a tail: a `retry` hint first, a comment every `heartbeat` (default 15 s) so
 * proxies keep the connection, and the end of the stream when the service shuts down.
 *
 * @category responses
 * @since 0.1.0
 */
export const response = Effect.fnUntraced(function* (
  after: Position.Position | undefined,
  options?: Options & { readonly heartbeat?: Duration.Input | undefined }
) {
  const context = yield* Effect.context<EventStore.EventStore>()
  const shutdown = yield* Effect.serviceOption(Shutdown.Shutdown)
  const events = tail(after ?? Position.start, options).pipe(Stream.map(toSse))
  const heartbeats = Stream.tick(options?.heartbeat ?? "15 seconds").pipe(
    Stream.drop(1),
    // an SSE comment line (effect's encoder writes events and retries only)
    Stream.map(() => ": keep-alive\n\n")
  )
  const retry = Sse.encoder.write(new Sse.Retry({ duration: Duration.seconds(1), lastEventId: undefined }))
  const body = Stream.make(retry).pipe(
    Stream.concat(Stream.merge(events, heartbeats, { haltStrategy: "left" })),
    Option.isSome(shutdown) ? Stream.interruptWhen(shutdown.value.await) : (stream) => stream,
    Stream.encodeText,
    Stream.provideContext(context)
  )
  return HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
  })
})
