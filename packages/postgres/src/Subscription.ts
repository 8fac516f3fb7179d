/**
 * Checkpointed subscriptions to the global log, on PostgreSQL and PGlite.
 *
 * A subscription starts from its checkpoint (or the beginning, or the end), catches up through
 * the gap-safe `readAll` in batches, then sleeps until a commit wakes it (`CommitSignal`: NOTIFY
 * on PostgreSQL, the in-process signal on PGlite), polling now and then as a fallback.
 *
 * - At least once: the checkpoint moves only after the handler succeeded. A transactional
 *   subscription (the default, for SQL projections) runs the handler and the checkpoint update in
 *   one transaction, so what it writes is exactly once.
 * - One active runner per subscription across processes: a lease row with an expiry, renewed by
 *   a heartbeat. Every checkpoint write is fenced by the lease, so a runner that lost it (paused,
 *   partitioned) can never commit again; a standby takes over when the lease expires or is
 *   released.
 * - Failures are retried with a `Schedule`; then the event is dead-lettered, and the later events
 *   of its stream wait behind it (parked too) while other streams flow. `redrive` replays a
 *   stream's parked events in order; `skip` gives one up, recorded. Nothing is skipped silently.
 * - Stopping (closing the scope) finishes the batch in flight and its checkpoint first.
 *
 * @since 0.1.0
 */
import { CommitSignal, Errors, type EventEnvelope, EventStore, Position, Uuid } from "@eventline/core"
import {
  Cause,
  Clock,
  Duration,
  Effect,
  Exit,
  Fiber,
  Metric,
  Option,
  PubSub,
  Queue,
  Ref,
  Schedule,
  type Scope,
  Stream
} from "effect"
import type { SqlClient } from "effect/sql"
import { type DeadLetter, LeaseLost, make as makeSql } from "./internal/subscriptionSql.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

export type { DeadLetter } from "./internal/subscriptionSql.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options<E, R> {
  /** The subscription's id: its checkpoint, lease and dead letters are kept under it. */
  readonly name: string
  readonly streamTypes?: ReadonlyArray<string> | undefined
  readonly eventTypes?: ReadonlyArray<string> | undefined
  /** Where a subscription without a checkpoint starts. Default: the beginning. */
  readonly startFrom?: "beginning" | "end" | undefined
  readonly handle: (event: EventEnvelope.RecordedEvent) => Effect.Effect<void, E, R>
  /**
   * Handle a whole batch at once instead (e.g. one Kafka send per batch). Retried on `retry`;
   * when the retries run out the runner restarts from its checkpoint: a batch is never
   * dead-lettered (its events wait, in order, until it goes through). Not transactional.
   */
  readonly handleBatch?: ((batch: ReadonlyArray<EventEnvelope.RecordedEvent>) => Effect.Effect<void, E, R>) | undefined
  /** Handler and checkpoint in one SQL transaction (exactly-once SQL effects). Default: true. */
  readonly transactional?: boolean | undefined
  /** Handle a batch's streams in parallel, up to this many at once (order within a stream kept). Default: 1. */
  readonly concurrency?: number | undefined
  readonly batchSize?: number | undefined
  /** Poll this often when no wake-up comes. Default: 1 second. */
  readonly pollInterval?: Duration.Input | undefined
  /** How a failing event is retried before it is dead-lettered. Default: 100 ms × 2, jittered, 5 retries. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** How long the lease lasts without a heartbeat. Default: 10 seconds. */
  readonly leaseTtl?: Duration.Input | undefined
  /** Called after a batch is committed (its checkpoint stored): for waiters and measurements. */
  readonly afterCommit?: ((batch: ReadonlyArray<EventEnvelope.RecordedEvent>) => Effect.Effect<void>) | undefined
  /** Run on a reset (rebuild), in the reset's transaction: clear what the handler built. */
  readonly onReset?: Effect.Effect<void, unknown, R> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Lag {
  /** Committed events after the checkpoint (some may wait for an older open transaction). */
  readonly events: number
  /** Age of the oldest of them, in milliseconds (0 when caught up). */
  readonly millis: number
}

/**
 * A running subscription.
 *
 * @category models
 * @since 0.1.0
 */
export interface Handle {
  readonly name: string
  /** Whether this runner holds the lease (the others stand by). */
  readonly isActive: Effect.Effect<boolean>
  readonly checkpoint: Effect.Effect<Option.Option<Position.Position>, Errors.InfrastructureError>
  readonly lag: Effect.Effect<Lag, Errors.InfrastructureError>
  /**
   * Wait until everything committed so far (that it follows) is handled: read-your-writes. While
   * an older transaction is still open it waits for that too (the gap-safe reader must).
   */
  readonly caughtUp: Effect.Effect<void, Errors.InfrastructureError>
  readonly deadLetters: (
    status?: DeadLetter["status"]
  ) => Effect.Effect<ReadonlyArray<DeadLetter>, Errors.InfrastructureError>
  /** Replay a stream's parked events in order (all parked streams when none is named). */
  readonly redrive: (streamId?: string) => Effect.Effect<void, Errors.InfrastructureError>
  /** Give up one parked event (recorded as skipped); the stream's later events stay parked until redriven. */
  readonly skip: (eventId: string) => Effect.Effect<void, Errors.InfrastructureError>
  /** Rebuild: clear the handler's state (`onReset`) and the checkpoint, then replay from the start. */
  readonly reset: Effect.Effect<void, Errors.InfrastructureError>
}

const eventsHandled = Metric.counter("eventline_subscription_events_total", {
  description: "events handled by subscriptions",
  incremental: true
})
const eventsDeadLettered = Metric.counter("eventline_subscription_dead_letters_total", {
  description: "events parked in dead letters",
  incremental: true
})
const lagGauge = Metric.gauge("eventline_subscription_lag_events", { description: "events behind the head" })

type Operation =
  | {
      readonly _tag: "Redrive"
      readonly streamId: string | undefined
      readonly done: (exit: Exit.Exit<void, Errors.InfrastructureError>) => void
    }
  | { readonly _tag: "Reset"; readonly done: (exit: Exit.Exit<void, Errors.InfrastructureError>) => void }

const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis", 2).pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 5 })
)

const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : Cause.pretty(cause)
}

/**
 * Start a subscription for the lifetime of the current scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = <E, R>(
  options: Options<E, R>
): Effect.Effect<
  Handle,
  never,
  Scope.Scope | SqlClient.SqlClient | EventStore.EventStore | Exclude<R, SqlClient.SqlClient>
> =>
  Effect.gen(function* () {
    const config = yield* PgStoreConfig
    const store = yield* EventStore.EventStore
    const db = yield* makeSql(config.schema)
    const sql = db.sql
    const context = yield* Effect.context<Exclude<R, SqlClient.SqlClient>>()
    const owner = yield* Uuid.makeV7
    const name = options.name
    const filter = { streamTypes: options.streamTypes, eventTypes: options.eventTypes }
    const batchSize = options.batchSize ?? 100
    const pollInterval = Duration.fromInputUnsafe(options.pollInterval ?? "1 second")
    const ttlMillis = Duration.toMillis(Duration.fromInputUnsafe(options.leaseTtl ?? "10 seconds"))
    const retry = options.retry ?? defaultRetry
    const transactional = options.transactional ?? true
    const concurrency = options.concurrency ?? 1
    const active = yield* Ref.make(false)
    const parkedStreams = new Set<string>()
    const operations = yield* Queue.unbounded<Operation>()
    const wakeUps = yield* Queue.sliding<void>(1)
    const progress = yield* Effect.acquireRelease(PubSub.sliding<void>(1), PubSub.shutdown)
    const handle = (event: EventEnvelope.RecordedEvent) =>
      Effect.provideContext(options.handle(event), context) as Effect.Effect<void, E, SqlClient.SqlClient>

    // wake-ups: any commit of a stream type we follow
    const signal = yield* Effect.serviceOption(CommitSignal.CommitSignal)
    if (Option.isSome(signal)) {
      yield* signal.value.changes.pipe(
        Stream.filter(
          (committed) => options.streamTypes === undefined || options.streamTypes.includes(committed.streamType)
        ),
        Stream.runForEach(() => Queue.offer(wakeUps, undefined)),
        Effect.forkScoped
      )
    }

    const inTransaction = <A, E2, R2>(effect: Effect.Effect<A, E2, R2>) =>
      transactional ? sql.withTransaction(effect) : effect

    const parkNow = (event: EventEnvelope.RecordedEvent, error: string, attempts: number, firstFailedAt?: Date) =>
      Effect.gen(function* () {
        const now = new Date(yield* Clock.currentTimeMillis)
        yield* db.park(name, event, { error, attempts, firstFailedAt: firstFailedAt ?? now, lastFailedAt: now })
        parkedStreams.add(event.streamId)
        yield* Metric.update(eventsDeadLettered, 1)
      })

    /**
     * Handle one event: park it when its stream is parked; else run `step` (the handler, and in
     * sequential mode the checkpoint) with retries, and park it when they are exhausted.
     * `after` runs with the parking, in the same transaction (the checkpoint in sequential mode).
     */
    const settle = <X>(
      event: EventEnvelope.RecordedEvent,
      step: Effect.Effect<X, Cause.Cause<E> | LeaseLost | Errors.InfrastructureError, SqlClient.SqlClient>,
      after: Effect.Effect<void, LeaseLost | Errors.InfrastructureError>
    ) =>
      Effect.gen(function* () {
        if (parkedStreams.has(event.streamId)) {
          const waiting = `waiting behind an earlier dead-lettered event of stream '${event.streamId}'`
          return yield* inTransaction(Effect.andThen(parkNow(event, waiting, 0), after))
        }
        const firstFailure = yield* Ref.make<Date | undefined>(undefined)
        const attempts = yield* Ref.make(0)
        const attempt = Ref.update(attempts, (n) => n + 1).pipe(
          Effect.andThen(inTransaction(step)),
          Effect.tapError(() =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Ref.update(firstFailure, (first) => first ?? new Date(now))
            )
          )
        )
        // the first attempt finishes even while stopping; waiting between retries does not hold a
        // stop up (the event is then not checkpointed, and comes again)
        const firstTry = yield* Effect.exit(attempt)
        const firstError = Exit.isFailure(firstTry) ? Option.getOrUndefined(Exit.findErrorOption(firstTry)) : undefined
        let replayFirstFailure = true
        const outcome =
          Exit.isSuccess(firstTry) || firstError === undefined || firstError instanceof LeaseLost
            ? firstTry
            : yield* Effect.interruptible(
                // the schedule counts from the first failure: it is replayed once, then real attempts follow
                Effect.suspend(() => {
                  if (!replayFirstFailure) return attempt
                  replayFirstFailure = false
                  return Effect.fail(firstError)
                }).pipe(Effect.retry({ schedule: retry, while: (error) => !(error instanceof LeaseLost) }))
              ).pipe(Effect.exit)
        if (Exit.isSuccess(outcome)) return yield* Metric.update(eventsHandled, 1)
        // stopped while waiting to retry: not a failure of the event; it comes again after a restart
        if (Cause.hasInterrupts(outcome.cause)) return yield* Effect.failCause(outcome.cause)
        const failure = Cause.findErrorOption(outcome.cause)
        if (Option.isSome(failure) && failure.value instanceof LeaseLost) return yield* failure.value
        // retries exhausted: park it, and everything after it in its stream
        const reason =
          Option.isSome(failure) && Cause.isCause(failure.value) ? describe(failure.value) : describe(outcome.cause)
        yield* Effect.logWarning(
          `subscription ${name}: dead-lettering ${event.type} ${event.eventId} of ${event.streamId}`,
          reason
        )
        const tries = yield* Ref.get(attempts)
        const first = yield* Ref.get(firstFailure)
        yield* inTransaction(Effect.andThen(parkNow(event, reason, tries, first), after))
      })

    /** Sequential mode: the handler and the checkpoint past the event, together. */
    const processOne = (event: EventEnvelope.RecordedEvent) =>
      settle(
        event,
        Effect.andThen(Effect.sandbox(handle(event)), db.saveCheckpoint(name, owner, event.position)),
        db.saveCheckpoint(name, owner, event.position)
      )

    /** A batch: in one transaction when all goes well; one by one (to find the culprit) when not. */
    const processBatch = (batch: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
      Effect.gen(function* () {
        const last = batch[batch.length - 1]
        if (last === undefined) return
        if (options.handleBatch !== undefined) {
          const handleBatch = options.handleBatch
          yield* Effect.interruptible(
            (Effect.provideContext(handleBatch(batch), context) as Effect.Effect<void, E>).pipe(Effect.retry(retry))
          )
          yield* db.saveCheckpoint(name, owner, last.position)
          return yield* Metric.update(eventsHandled, batch.length)
        }
        if (concurrency > 1) {
          const byStream = new Map<string, Array<EventEnvelope.RecordedEvent>>()
          for (const event of batch) byStream.set(event.streamId, [...(byStream.get(event.streamId) ?? []), event])
          // each stream in order, streams in parallel; the checkpoint moves once all are done
          yield* Effect.forEach(
            byStream.values(),
            (events) => Effect.forEach(events, (event) => settle(event, Effect.sandbox(handle(event)), Effect.void)),
            { concurrency, discard: true }
          )
          return yield* db.saveCheckpoint(name, owner, last.position)
        }
        const clean = transactional && batch.every((event) => !parkedStreams.has(event.streamId))
        if (clean) {
          const together = yield* sql
            .withTransaction(
              Effect.andThen(
                Effect.forEach(batch, (event) => handle(event), { discard: true }),
                db.saveCheckpoint(name, owner, last.position)
              )
            )
            .pipe(Effect.exit)
          if (Exit.isSuccess(together)) {
            yield* Metric.update(eventsHandled, batch.length)
            return
          }
          const failure = Cause.findErrorOption(together.cause)
          if (Option.isSome(failure) && failure.value instanceof LeaseLost) return yield* failure.value
        }
        for (const event of batch) yield* processOne(event)
      })

    const redrive = (streamId: string | undefined) =>
      Effect.gen(function* () {
        const parked = (yield* db.listDeadLetters(name, "parked")).filter(
          (letter) => streamId === undefined || letter.streamId === streamId
        )
        const streams = [...new Set(parked.map((letter) => letter.streamId))]
        for (const stream of streams) {
          parkedStreams.delete(stream)
          for (const letter of parked.filter((l) => l.streamId === stream)) {
            const event = yield* store.findEvent(letter.eventId)
            if (Option.isNone(event)) continue
            const redriven = yield* inTransaction(
              Effect.andThen(handle(event.value), db.setDeadLetterStatus(name, letter.eventId, "redriven"))
            ).pipe(Effect.retry(retry), Effect.exit)
            if (Exit.isFailure(redriven)) {
              // still failing: it stays parked, and so does the rest of its stream
              parkedStreams.add(stream)
              yield* Effect.logWarning(
                `subscription ${name}: redrive of ${letter.eventId} failed again`,
                describe(redriven.cause)
              )
              break
            }
            yield* Metric.update(eventsHandled, 1)
          }
        }
      })

    const reset = Effect.gen(function* () {
      yield* sql.withTransaction(
        Effect.gen(function* () {
          if (options.onReset !== undefined) {
            yield* (
              Effect.provideContext(options.onReset, context) as Effect.Effect<void, unknown, SqlClient.SqlClient>
            ).pipe(
              Effect.mapError((cause) => new Errors.InfrastructureError({ operation: "subscription.reset", cause }))
            )
          }
          yield* db.clearDeadLetters(name)
          yield* db.resetCheckpoint(name, owner)
        })
      )
      parkedStreams.clear()
    })

    /** Run the queued operations; whether any ran (then the cursor may have moved back). */
    const runOperations = Effect.gen(function* () {
      const pending = yield* Queue.clear(operations)
      for (const operation of pending) {
        const exit = yield* Effect.exit(operation._tag === "Reset" ? reset : redrive(operation.streamId))
        const lost = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
        if (Option.isSome(lost) && lost.value instanceof LeaseLost) {
          operation.done(Exit.fail(new Errors.InfrastructureError({ operation: operation._tag, cause: lost.value })))
          return yield* lost.value
        }
        operation.done(
          Exit.isSuccess(exit)
            ? Exit.void
            : Exit.fail(new Errors.InfrastructureError({ operation: operation._tag, cause: Cause.squash(exit.cause) }))
        )
      }
      return pending.length > 0
    })

    /** While we hold the lease: read, handle, checkpoint; sleep until woken or the poll interval. */
    const lead = (from: Position.Position) =>
      Effect.gen(function* () {
        let cursor = from
        for (const letter of yield* db.listDeadLetters(name, "parked")) parkedStreams.add(letter.streamId)
        const read = (after: Position.Position) =>
          Stream.runCollect(
            store
              .readAll({ after, batchSize, streamTypes: options.streamTypes, eventTypes: options.eventTypes })
              .pipe(Stream.take(batchSize))
          )
        // while a full batch is handled, the next one is read (catching up overlaps reading and handling)
        let readAhead: Fiber.Fiber<Array<EventEnvelope.RecordedEvent>, Errors.InfrastructureError> | undefined
        while (true) {
          if (yield* runOperations) {
            if (readAhead !== undefined) yield* Fiber.interrupt(readAhead)
            readAhead = undefined
            const current = yield* db.checkpoint(name)
            if (Option.isSome(current) && Position.compare(current.value, cursor) < 0) cursor = current.value // a reset
          }
          const batch = readAhead === undefined ? yield* read(cursor) : yield* Fiber.join(readAhead)
          readAhead = undefined
          if (batch.length > 0) {
            const next = (batch[batch.length - 1] as EventEnvelope.RecordedEvent).position
            if (batch.length === batchSize) readAhead = yield* Effect.forkChild(read(next))
            // a batch in flight is finished (and checkpointed) even when the runner is stopped
            yield* Effect.uninterruptible(processBatch(batch))
            yield* PubSub.publish(progress, undefined)
            if (options.afterCommit !== undefined) yield* options.afterCommit(batch)
            cursor = next
            if (batch.length === batchSize) continue
          }
          yield* Queue.take(wakeUps).pipe(Effect.timeoutOption(pollInterval))
        }
      })

    const heartbeat = db
      .renew(name, owner, ttlMillis)
      .pipe(Effect.repeat(Schedule.spaced(Duration.millis(Math.max(50, ttlMillis / 3)))))

    const runAsLeader = (from: Position.Position) =>
      Effect.acquireUseRelease(
        Ref.set(active, true),
        () => Effect.raceFirst(lead(from), heartbeat),
        () => Effect.andThen(Ref.set(active, false), Effect.ignore(db.release(name, owner)))
      )

    const initialPosition = options.startFrom === "end" ? db.head(filter) : Effect.succeed(Position.start)

    // stand by until the lease is ours, lead until it is lost, and again
    const runner = Effect.gen(function* () {
      while (true) {
        const acquired = yield* Effect.flatMap(initialPosition, (initial) =>
          db.acquire(name, owner, ttlMillis, initial)
        )
        if (Option.isNone(acquired)) {
          yield* Effect.sleep(Duration.millis(Math.max(50, ttlMillis / 2)))
          continue
        }
        const exit = yield* Effect.exit(runAsLeader(acquired.value))
        if (Exit.isFailure(exit)) {
          const failure = Cause.findErrorOption(exit.cause)
          if (Option.isSome(failure) && failure.value instanceof LeaseLost) {
            yield* Effect.logInfo(`subscription ${name}: lease lost; standing by`)
          } else if (!Cause.hasInterruptsOnly(exit.cause)) {
            yield* Effect.logError(`subscription ${name} failed; restarting`, exit.cause)
            yield* Effect.sleep("1 second")
          } else {
            return
          }
        }
      }
    })
    const fiber = yield* Effect.forkScoped(runner)

    const request = (make: (done: Operation["done"]) => Operation) =>
      Effect.callback<void, Errors.InfrastructureError>((resume) => {
        Queue.offerUnsafe(
          operations,
          make((exit) => resume(exit))
        )
        Queue.offerUnsafe(wakeUps, undefined)
      })

    const lag = Effect.gen(function* () {
      const after = Option.getOrElse(yield* db.checkpoint(name), () => Position.start)
      const measured = yield* db.lag(after, filter)
      const now = yield* Clock.currentTimeMillis
      yield* Metric.update(Metric.withAttributes(lagGauge, { subscription: name }), measured.events)
      return {
        events: measured.events,
        millis: measured.oldest === null ? 0 : Math.max(0, now - measured.oldest.getTime())
      }
    })

    // the lag gauge follows by itself (every 5 s, by the active runner), not only when asked
    yield* Effect.gen(function* () {
      if (yield* Ref.get(active)) yield* Effect.ignore(lag)
    }).pipe(Effect.repeat(Schedule.spaced("5 seconds")), Effect.forkScoped)

    // wait for this runner's progress, or poll (another process may be the one making progress)
    const caughtUp = Effect.scoped(
      Effect.gen(function* () {
        const progressed = yield* PubSub.subscribe(progress)
        const target = yield* db.lastCommitted(filter)
        yield* Queue.offer(wakeUps, undefined)
        while (true) {
          const checkpoint = yield* db.checkpoint(name)
          if (Option.isSome(checkpoint) && Position.compare(checkpoint.value, target) >= 0) return
          yield* Effect.raceFirst(PubSub.take(progressed), Effect.sleep("100 millis"))
        }
      })
    )

    yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))

    return {
      name,
      isActive: Ref.get(active),
      checkpoint: db.checkpoint(name),
      lag,
      caughtUp,
      deadLetters: (status) => db.listDeadLetters(name, status),
      redrive: (streamId) => request((done) => ({ _tag: "Redrive", streamId, done })),
      skip: (eventId) => db.setDeadLetterStatus(name, eventId, "skipped"),
      reset: request((done) => ({ _tag: "Reset", done }))
    } satisfies Handle
  })
