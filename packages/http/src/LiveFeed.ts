/**
 * One reader of the global log per process, shared by every live tail (`/events/live`). Before
 * 0.3.0 each open tail read the log on every commit and every second, so the reads per commit
 * grew with the number of clients (2,000 open tails raised POST p50 from 8 to 641 ms).
 *
 * - The shared reader starts with the first subscriber and stops when the last one leaves (or
 *   with the scope the feed was made in). It reads the log with the store's gap-safe `readAll`,
 *   wakes on a `CommitSignal` (polling as a fallback), and offers every page to each
 *   subscriber's bounded queue, filtered by that subscriber's stream and event types.
 * - A subscriber first catches up with reads of its own (pages of `batchSize`) until it meets
 *   the end of the log, then joins the shared reader: it registers its queue at the reader's
 *   position, reads on its own up to that position if it is behind, and then takes from its
 *   queue. Positions are strictly increasing on the way out, so the switch neither skips nor
 *   repeats an event.
 * - A subscriber whose queue is full (it reads more slowly than the log grows by `clientBuffer`
 *   events) is cut: its stream ends after what it was given, the others never wait for it, and
 *   an SSE client reconnects with `Last-Event-ID` and loses nothing.
 * - `messages` adds a `KeepAlive` every `heartbeat`, handed out by the shared reader: a tail
 *   needs no timer (and no merge of two streams) of its own.
 *
 * @since 0.3.0
 */
import { CommitSignal, type Errors, type EventEnvelope, EventStore, Position } from "@eventline/core"
import {
  type Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Fiber,
  Layer,
  Metric,
  Option,
  Queue,
  Schedule,
  Stream
} from "effect"

/**
 * @category models
 * @since 0.3.0
 */
export interface Options {
  /** How many events one read fetches (the shared reader's and each catch-up's). Default: 100. */
  readonly batchSize?: number | undefined
  /** How often the shared reader looks for new events when no commit signal arrives. Default: 1 second. */
  readonly pollInterval?: Duration.Input | undefined
  /** How many events a subscriber may fall behind the shared reader before it is cut. Default: 1000. */
  readonly clientBuffer?: number | undefined
  /** How often `messages` hands every live subscriber a `KeepAlive`. Default: 15 seconds. */
  readonly heartbeat?: Duration.Input | undefined
}

/**
 * @category constants
 * @since 0.3.0
 */
export const defaults = {
  batchSize: 100,
  pollInterval: Duration.seconds(1),
  clientBuffer: 1000,
  heartbeat: Duration.seconds(15)
} as const

/**
 * What `messages` hands a live subscriber every `heartbeat` (an SSE response writes a comment, so
 * that proxies keep the connection). One timer for every subscriber, not one each.
 *
 * @category constants
 * @since 0.3.0
 */
export const KeepAlive: unique symbol = Symbol.for("@eventline/http/LiveFeed/KeepAlive")

/**
 * @category models
 * @since 0.3.0
 */
export type Message = EventEnvelope.RecordedEvent | typeof KeepAlive

/**
 * @category models
 * @since 0.3.0
 */
export interface LiveFeed {
  /**
   * Every event after `after` that passes `filter`, in log order, then every such event as it
   * commits. Ends (without failing) when the subscriber falls `clientBuffer` events behind.
   */
  readonly subscribe: (
    after: Position.Position,
    filter?: EventStore.LogFilter
  ) => Stream.Stream<EventEnvelope.RecordedEvent, Errors.InfrastructureError>
  /** `subscribe`, with a `KeepAlive` every `heartbeat` once the subscriber takes from the shared reader. */
  readonly messages: (
    after: Position.Position,
    filter?: EventStore.LogFilter
  ) => Stream.Stream<Message, Errors.InfrastructureError>
  /** How many subscribers are taking from the shared reader now. */
  readonly subscribers: Effect.Effect<number>
}

/**
 * @category services
 * @since 0.3.0
 */
export class Service extends Context.Service<Service, LiveFeed>()("@eventline/http/LiveFeed") {}

/**
 * Subscribers cut because their queue was full.
 *
 * @category metrics
 * @since 0.3.0
 */
export const overflows = Metric.counter("http_live_feed_overflows_total", {
  description: "Live-tail subscribers cut because they fell too far behind the shared reader",
  incremental: true
})

type Sink = {
  readonly queue: Queue.Queue<Message, Errors.InfrastructureError | Cause.Done>
  readonly filter: EventStore.LogFilter | undefined
}

const matches = (filter: EventStore.LogFilter | undefined) => (event: EventEnvelope.RecordedEvent) =>
  filter === undefined ||
  ((filter.streamTypes === undefined || filter.streamTypes.includes(event.streamType)) &&
    (filter.eventTypes === undefined || filter.eventTypes.includes(event.type)))

// a failed read is retried a few times (a restarted database), then the subscribers are failed
const readRetry = Schedule.exponential("100 millis", 2).pipe(Schedule.upTo({ times: 5 }))

/**
 * A feed over the `EventStore` in context; its shared reader runs in the scope it is made in.
 *
 * @category constructors
 * @since 0.3.0
 */
export const make = Effect.fnUntraced(function* (options?: Options) {
  const store = yield* EventStore.EventStore
  const signal = yield* Effect.serviceOption(CommitSignal.CommitSignal)
  const scope = yield* Effect.scope
  const batchSize = options?.batchSize ?? defaults.batchSize
  const pollInterval = Duration.fromInputUnsafe(options?.pollInterval ?? defaults.pollInterval)
  const clientBuffer = options?.clientBuffer ?? defaults.clientBuffer
  const heartbeat = Duration.toMillis(Duration.fromInputUnsafe(options?.heartbeat ?? defaults.heartbeat))

  // how long a gap read waits for events the shared reader saw but this read's horizon still holds back
  const gapRetry = Duration.millis(20)
  // the shared state, changed only in synchronous steps (a registration and a publication never interleave)
  const sinks = new Set<Sink>()
  let running: { readonly generation: number; fiber: Fiber.Fiber<void> | undefined } | undefined
  let generations = 0
  /** Where the running reader has published up to: a new sink receives everything after it. */
  let published: Position.Position = Position.start

  const page = (after: Position.Position, filter?: EventStore.LogFilter) =>
    Stream.runCollect(
      store
        .readAll({ after, batchSize, streamTypes: filter?.streamTypes, eventTypes: filter?.eventTypes })
        .pipe(Stream.take(batchSize))
    )

  /** Offer a page to every sink of this generation; the sinks that are full are cut. */
  const publish = (generation: number, events: ReadonlyArray<EventEnvelope.RecordedEvent>): number => {
    const last = events[events.length - 1]
    if (running?.generation !== generation || last === undefined) return 0
    let cut = 0
    for (const sink of sinks) {
      const wanted = sink.filter === undefined ? events : events.filter(matches(sink.filter))
      if (wanted.length === 0) continue
      if (Queue.offerAllUnsafe(sink.queue, wanted).length > 0) {
        // what it was given stays in its queue; then its stream ends
        Queue.endUnsafe(sink.queue)
        sinks.delete(sink)
        cut++
      }
    }
    published = last.position
    return cut
  }

  /** A keep-alive to every sink with room for it (a full one is cut by the next page anyway). */
  const beat = (generation: number) => {
    if (running?.generation !== generation) return
    for (const sink of sinks) Queue.offerUnsafe(sink.queue, KeepAlive)
  }

  /** End a generation whose reader failed: its subscribers fail (a client reconnects). */
  const failAll = (generation: number, error: Errors.InfrastructureError) =>
    Effect.suspend(() => {
      if (running?.generation !== generation) return Effect.void
      const failed = [...sinks]
      sinks.clear()
      running = undefined
      return Effect.forEach(failed, (sink) => Queue.fail(sink.queue, error), { discard: true })
    })

  const reader = (generation: number, from: Position.Position) =>
    Effect.gen(function* () {
      const wakeUps = yield* Queue.sliding<void>(1)
      if (Option.isSome(signal)) {
        yield* signal.value.changes.pipe(
          Stream.runForEach(() => Queue.offer(wakeUps, undefined)),
          Effect.forkScoped
        )
      }
      const awaitCommit = Effect.asVoid(Queue.take(wakeUps).pipe(Effect.timeoutOption(pollInterval)))
      let cursor = from
      let caughtUp = false
      let lastBeat = yield* Clock.currentTimeMillis
      while (true) {
        if (caughtUp) yield* awaitCommit
        const events = yield* Effect.retry(page(cursor), readRetry)
        const cut = publish(generation, events)
        if (cut > 0) yield* Metric.update(overflows, cut)
        cursor = events[events.length - 1]?.position ?? cursor
        caughtUp = events.length < batchSize
        // the loop turns at least every poll interval
        const now = yield* Clock.currentTimeMillis
        if (now - lastBeat >= heartbeat) {
          lastBeat = now
          beat(generation)
        }
      }
    }).pipe(
      Effect.scoped,
      Effect.catch((error) => failAll(generation, error))
    )

  /**
   * Add a sink; start the reader at `head` when none runs (None: the head is needed first).
   * Returns where the sink's queue starts: it receives every event after that position.
   */
  const register = (sink: Sink, head: Position.Position | undefined) =>
    Effect.suspend(() => {
      if (running !== undefined) {
        sinks.add(sink)
        return Effect.succeed(Option.some(published))
      }
      if (head === undefined) return Effect.succeed(Option.none<Position.Position>())
      sinks.add(sink)
      const generation = ++generations
      const started = { generation, fiber: undefined as Fiber.Fiber<void> | undefined }
      running = started
      published = head
      // the reader is interruptible though forked here, where registering is not
      return Effect.forkIn(Effect.interruptible(reader(generation, head)), scope).pipe(
        Effect.flatMap((fiber) => {
          if (running === started) {
            started.fiber = fiber
            return Effect.void
          }
          return Fiber.interrupt(fiber)
        }),
        Effect.as(Option.some(head))
      )
    }).pipe(
      // once added, the sink and a reader started for it are known to `unregister`
      Effect.uninterruptible
    )

  const unregister = (sink: Sink) =>
    Effect.suspend(() => {
      sinks.delete(sink)
      if (sinks.size > 0 || running === undefined) return Effect.void
      const fiber = running.fiber
      running = undefined
      return fiber === undefined ? Effect.void : Fiber.interrupt(fiber)
    })

  /** Join the shared reader: the queue's start position (the head is read only to start it). */
  const join = (sink: Sink): Effect.Effect<Position.Position, Errors.InfrastructureError> =>
    Effect.flatMap(register(sink, undefined), (joined) =>
      Option.isSome(joined)
        ? Effect.succeed(joined.value)
        : Effect.flatMap(store.headPosition(), (head) =>
            Effect.flatMap(register(sink, head), (again) =>
              Option.isSome(again) ? Effect.succeed(again.value) : join(sink)
            )
          )
    )

  const messages = (
    after: Position.Position,
    filter?: EventStore.LogFilter
  ): Stream.Stream<Message, Errors.InfrastructureError> =>
    Stream.suspend(() => {
      // the last position handed out: nothing at or before it is handed out again
      let last = after
      /** Own reads after `last` until a short page (the end of the log, as far as it can be read now). */
      const catchUp = Stream.suspend(() =>
        Stream.paginate(last, (cursor) =>
          Effect.map(page(cursor, filter), (events) => {
            const end = events[events.length - 1]?.position ?? cursor
            return [events, events.length < batchSize ? Option.none() : Option.some(end)] as const
          })
        )
      )
      /**
       * Own reads after `last` up to `until`, where the shared reader's queue starts. A short
       * page does not end it: a later read's horizon may be lower than the shared reader's was
       * (an append that took its transaction id early holds it back), so the events up to `until`
       * may become readable only later. The pages are unfiltered, so the position always reaches
       * `until`; the filter is applied here.
       */
      const fillGap = (until: Position.Position) =>
        Stream.suspend(() =>
          Stream.paginate(last, (cursor) =>
            Effect.flatMap(page(cursor), (events) => {
              const end = events[events.length - 1]?.position ?? cursor
              const done = end >= until
              const wanted = filter === undefined ? events : events.filter(matches(filter))
              const held = !done && events.length < batchSize ? Effect.sleep(gapRetry) : Effect.void
              return Effect.as(held, [wanted, done ? Option.none() : Option.some(end)] as const)
            })
          )
        )
      const live = Stream.unwrap(
        Effect.gen(function* () {
          const sink: Sink = {
            queue: yield* Queue.bounded<Message, Errors.InfrastructureError | Cause.Done>(clientBuffer),
            filter
          }
          yield* Effect.addFinalizer(() => unregister(sink))
          const from = yield* join(sink)
          // behind the shared reader: read up to where its queue starts, then take from the queue
          const gap = from > last ? fillGap(from) : Stream.empty
          return Stream.concat(gap, Stream.fromQueue(sink.queue))
        })
      )
      return Stream.concat(catchUp, live).pipe(
        Stream.filter((message) => {
          if (message === KeepAlive) return true
          if (message.position <= last) return false
          last = message.position
          return true
        })
      )
    })

  const subscribe = (
    after: Position.Position,
    filter?: EventStore.LogFilter
  ): Stream.Stream<EventEnvelope.RecordedEvent, Errors.InfrastructureError> =>
    messages(after, filter).pipe(Stream.filter((message) => message !== KeepAlive))

  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      const fiber = running?.fiber
      running = undefined
      // the subscribers' streams end after what they were given
      for (const sink of sinks) Queue.endUnsafe(sink.queue)
      sinks.clear()
      return fiber === undefined ? Effect.void : Fiber.interrupt(fiber)
    })
  )

  return { subscribe, messages, subscribers: Effect.sync(() => sinks.size) } satisfies LiveFeed
})

/**
 * The feed as a service, its reader stopped with the layer.
 *
 * @category layers
 * @since 0.3.0
 */
export const layer = (options?: Options): Layer.Layer<Service, never, EventStore.EventStore> =>
  Layer.effect(Service, make(options))
