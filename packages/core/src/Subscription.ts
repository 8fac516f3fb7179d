/**
 * Checkpointed subscriptions to the global log, on any store that provides the ports:
 * `EventStore` (the gap-safe `readAll` and log positions), `CheckpointStore` (checkpoints and
 * leases), `DeadLetterStore` and `UnitOfWork` (handler and checkpoint committed together).
 *
 * A subscription starts from its checkpoint (or the beginning, or the end), catches up through
 * `readAll` in batches, then sleeps until a commit wakes it (`CommitSignal`, when provided),
 * polling now and then as a fallback.
 *
 * - At least once: the checkpoint moves only after the handler succeeded. A transactional
 *   subscription (the default, for projections in the store's database) runs the handler and the
 *   checkpoint update in one unit of work, so what it writes there is exactly once.
 * - One active runner per subscription across processes: a lease with an expiry, renewed by a
 *   heartbeat. Every checkpoint write is fenced by the lease, so a runner that lost it (paused,
 *   partitioned) can never commit again; a standby takes over when the lease expires or is
 *   released.
 * - Failures are retried with a `Schedule`; then the event is dead-lettered, and the later events
 *   of its stream wait behind it (parked too) while other streams flow. `redrive` replays a
 *   stream's parked events in order; `skip` gives one up, recorded. Nothing is skipped silently.
 * - Stopping (closing the scope) finishes the batch in flight and its checkpoint first.
 * - A transactional handler may also take a whole batch (`handleBatchAtomically`, since 0.3.0):
 *   one statement per batch instead of one per event, in the checkpoint's unit of work; when it
 *   fails, the batch is handled event by event to find the culprit.
 *
 * @since 0.2.0
 */
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
import { CheckpointStore, LeaseLost } from "./CheckpointStore.ts"
import { CommitSignal } from "./CommitSignal.ts"
import { type DeadLetter, DeadLetterStore, type Status } from "./DeadLetterStore.ts"
import { InfrastructureError } from "./Errors.ts"
import type { RecordedEvent } from "./EventEnvelope.ts"
import { EventStore, type LogFilter } from "./EventStore.ts"
import * as Instrumentation from "./Instrumentation.ts"
import * as Position from "./Position.ts"
import { UnitOfWork } from "./UnitOfWork.ts"
import * as Uuid from "./Uuid.ts"

export type {
  /**
   * A parked event, as `deadLetters` lists it (re-exported from `DeadLetterStore`).
   *
   * @category models
   * @since 0.2.0
   */
  DeadLetter
} from "./DeadLetterStore.ts"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options<E, R> {
  /** The subscription's id: its checkpoint, lease and dead letters are kept under it. */
  readonly name: string
  readonly streamTypes?: ReadonlyArray<string> | undefined
  readonly eventTypes?: ReadonlyArray<string> | undefined
  /** Where a subscription without a checkpoint starts. Default: the beginning. */
  readonly startFrom?: "beginning" | "end" | undefined
  readonly handle: (event: RecordedEvent) => Effect.Effect<void, E, R>
  /**
   * Handle a whole batch at once instead (e.g. one Kafka send per batch). Retried on `retry`;
   * when the retries run out the runner restarts from its checkpoint: a batch is never
   * dead-lettered (its events wait, in order, until it goes through). Not transactional.
   */
  readonly handleBatch?: ((batch: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, E, R>) | undefined
  /**
   * The batch form of `handle` for a transactional subscription (e.g. one multi-row upsert per
   * batch instead of a statement per event): it must leave the same state as `handle` applied to
   * each event in order. It runs with the checkpoint in one unit of work when the store's unit of
   * work is atomic and no event of the batch waits behind a dead letter; otherwise, or when it
   * fails, the batch goes event by event through `handle` (with its retries and dead letters).
   * Ignored by a subscription that is not transactional or has `handleBatch`.
   *
   * @since 0.3.0
   */
  readonly handleBatchAtomically?: ((batch: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, E, R>) | undefined
  /** Handler and checkpoint in one unit of work (exactly-once effects in the store). Default: true. */
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
  readonly afterCommit?: ((batch: ReadonlyArray<RecordedEvent>) => Effect.Effect<void>) | undefined
  /** Run on a reset (rebuild), in the reset's unit of work: clear what the handler built. */
  readonly onReset?: Effect.Effect<void, unknown, R> | undefined
}

/**
 * @category models
 * @since 0.2.0
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
 * @since 0.2.0
 */
export interface Handle {
  readonly name: string
  /** Whether this runner holds the lease (the others stand by). */
  readonly isActive: Effect.Effect<boolean>
  readonly checkpoint: Effect.Effect<Option.Option<Position.Position>, InfrastructureError>
  readonly lag: Effect.Effect<Lag, InfrastructureError>
  /**
   * Wait until everything committed so far (that it follows) is handled: read-your-writes. While
   * an older transaction is still open it waits for that too (the gap-safe reader must).
   */
  readonly caughtUp: Effect.Effect<void, InfrastructureError>
  readonly deadLetters: (status?: Status) => Effect.Effect<ReadonlyArray<DeadLetter>, InfrastructureError>
  /** Replay a stream's parked events in order (all parked streams when none is named). */
  readonly redrive: (streamId?: string) => Effect.Effect<void, InfrastructureError>
  /** Give up one parked event (recorded as skipped); the stream's later events stay parked until redriven. */
  readonly skip: (eventId: string) => Effect.Effect<void, InfrastructureError>
  /** Rebuild: clear the handler's state (`onReset`) and the checkpoint, then replay from the start. */
  readonly reset: Effect.Effect<void, InfrastructureError>
}

/**
 * The services a subscription runs on.
 *
 * @category models
 * @since 0.2.0
 */
export type Services = EventStore | CheckpointStore | DeadLetterStore | UnitOfWork

type Operation =
  | {
      readonly _tag: "Redrive"
      readonly streamId: string | undefined
      readonly done: (exit: Exit.Exit<void, InfrastructureError>) => void
    }
  | { readonly _tag: "Reset"; readonly done: (exit: Exit.Exit<void, InfrastructureError>) => void }

/**
 * The default retry of a failing event: 100 ms doubling, jittered, 5 retries.
 *
 * @category constants
 * @since 0.2.0
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis", 2).pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 5 })
)

const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : Cause.pretty(cause)
}

const isLeaseLost = (error: unknown): error is LeaseLost => error instanceof LeaseLost

/**
 * Start a subscription for the lifetime of the current scope.
 *
 * @category constructors
 * @since 0.2.0
 */
export const start = <E, R>(options: Options<E, R>): Effect.Effect<Handle, never, Scope.Scope | Services | R> =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const checkpoints = yield* CheckpointStore
    const deadLetters = yield* DeadLetterStore
    const unitOfWork = yield* UnitOfWork
    const context = yield* Effect.context<R>()
    const owner = yield* Uuid.makeV7
    const name = options.name
    const filter: LogFilter = { streamTypes: options.streamTypes, eventTypes: options.eventTypes }
    const batchSize = options.batchSize ?? 100
    const pollInterval = Duration.fromInputUnsafe(options.pollInterval ?? "1 second")
    // a wake-up may be lost (a NOTIFY after a crash): the poll is what bounds the delay then
    if (!Duration.isFinite(pollInterval)) {
      return yield* Effect.die(new Error(`subscription ${options.name}: pollInterval must be finite`))
    }
    const ttl = Duration.fromInputUnsafe(options.leaseTtl ?? "10 seconds")
    const ttlMillis = Duration.toMillis(ttl)
    const retry = options.retry ?? defaultRetry
    const transactional = options.transactional ?? true
    const concurrency = options.concurrency ?? 1
    const active = yield* Ref.make(false)
    const parkedStreams = new Set<string>()
    const operations = yield* Queue.unbounded<Operation>()
    const wakeUps = yield* Queue.sliding<void>(1)
    const progress = yield* Effect.acquireRelease(PubSub.sliding<void>(1), PubSub.shutdown)
    // the handler runs with the services of the caller of `start` (and, inside a unit of work,
    // with the transaction's connection, which is not in this captured context)
    const handle = (event: RecordedEvent) => Effect.provideContext(options.handle(event), context)
    const handled = Instrumentation.subscriptionEventsHandled.pipe(Metric.withAttributes({ subscription: name }))
    const parkedMetric = Instrumentation.subscriptionDeadLetters.pipe(Metric.withAttributes({ subscription: name }))
    const lagGauge = Instrumentation.subscriptionLag.pipe(Metric.withAttributes({ subscription: name }))

    // wake-ups: any commit of a stream type we follow
    const signal = yield* Effect.serviceOption(CommitSignal)
    if (Option.isSome(signal)) {
      yield* signal.value.changes.pipe(
        Stream.filter(
          (committed) => options.streamTypes === undefined || options.streamTypes.includes(committed.streamType)
        ),
        Stream.runForEach(() => Queue.offer(wakeUps, undefined)),
        Effect.forkScoped
      )
    }

    const inUnit = <A, E2, R2>(effect: Effect.Effect<A, E2, R2>): Effect.Effect<A, E2 | InfrastructureError, R2> =>
      transactional ? unitOfWork.transaction(effect) : effect

    const parkNow = (event: RecordedEvent, error: string, attempts: number, firstFailedAt?: Date) =>
      Effect.gen(function* () {
        const now = new Date(yield* Clock.currentTimeMillis)
        yield* deadLetters.park(name, event, {
          error,
          attempts,
          firstFailedAt: firstFailedAt ?? now,
          lastFailedAt: now
        })
        parkedStreams.add(event.streamId)
        yield* Metric.update(parkedMetric, 1)
      })

    /**
     * Handle one event: park it when its stream is parked; else run `step` (the handler, and in
     * sequential mode the checkpoint) with retries, and park it when they are exhausted.
     * `after` runs with the parking, in the same unit of work (the checkpoint in sequential mode).
     */
    const settle = <X>(
      event: RecordedEvent,
      step: Effect.Effect<X, Cause.Cause<E> | LeaseLost | InfrastructureError, R>,
      after: Effect.Effect<void, LeaseLost | InfrastructureError>
    ) =>
      Effect.gen(function* () {
        if (parkedStreams.has(event.streamId)) {
          const waiting = `waiting behind an earlier dead-lettered event of stream '${event.streamId}'`
          return yield* inUnit(Effect.andThen(parkNow(event, waiting, 0), after))
        }
        const firstFailure = yield* Ref.make<Date | undefined>(undefined)
        const attempts = yield* Ref.make(0)
        const attempt = Ref.update(attempts, (n) => n + 1).pipe(
          Effect.andThen(inUnit(step)),
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
          Exit.isSuccess(firstTry) || firstError === undefined || isLeaseLost(firstError)
            ? firstTry
            : yield* Effect.interruptible(
                // the schedule counts from the first failure: it is replayed once, then real attempts follow
                Effect.suspend(() => {
                  if (!replayFirstFailure) return attempt
                  replayFirstFailure = false
                  return Effect.fail(firstError)
                }).pipe(Effect.retry({ schedule: retry, while: (error) => !isLeaseLost(error) }))
              ).pipe(Effect.exit)
        if (Exit.isSuccess(outcome)) return yield* Metric.update(handled, 1)
        // stopped while waiting to retry: not a failure of the event; it comes again after a restart
        if (Cause.hasInterrupts(outcome.cause)) return yield* Effect.failCause(outcome.cause)
        const failure = Cause.findErrorOption(outcome.cause)
        if (Option.isSome(failure) && isLeaseLost(failure.value)) return yield* failure.value
        // retries exhausted: park it, and everything after it in its stream
        const reason =
          Option.isSome(failure) && Cause.isCause(failure.value) ? describe(failure.value) : describe(outcome.cause)
        yield* Effect.logWarning(
          `subscription ${name}: dead-lettering ${event.type} ${event.eventId} of ${event.streamId}`,
          reason
        )
        const tries = yield* Ref.get(attempts)
        const first = yield* Ref.get(firstFailure)
        yield* inUnit(Effect.andThen(parkNow(event, reason, tries, first), after))
      })

    const save = (position: Position.Position) => checkpoints.save(name, owner, position)

    /** Sequential mode: the handler and the checkpoint past the event, together. */
    const processOne = (event: RecordedEvent) =>
      settle(event, Effect.andThen(Effect.sandbox(handle(event)), save(event.position)), save(event.position))

    /** A batch: in one unit of work when all goes well; one by one (to find the culprit) when not. */
    const processBatch = (batch: ReadonlyArray<RecordedEvent>) =>
      Effect.gen(function* () {
        const last = batch[batch.length - 1]
        if (last === undefined) return
        if (options.handleBatch !== undefined) {
          const handleBatch = options.handleBatch
          yield* Effect.interruptible(Effect.provideContext(handleBatch(batch), context).pipe(Effect.retry(retry)))
          yield* save(last.position)
          return yield* Metric.update(handled, batch.length)
        }
        const clean = transactional && unitOfWork.atomic && batch.every((event) => !parkedStreams.has(event.streamId))
        const handleAll = options.handleBatchAtomically
        if (clean && (handleAll !== undefined || concurrency === 1)) {
          const work =
            handleAll === undefined
              ? Effect.forEach(batch, handle, { discard: true })
              : Effect.provideContext(handleAll(batch), context)
          const together = yield* unitOfWork.transaction(Effect.andThen(work, save(last.position))).pipe(Effect.exit)
          if (Exit.isSuccess(together)) return yield* Metric.update(handled, batch.length)
          const failure = Cause.findErrorOption(together.cause)
          if (Option.isSome(failure) && isLeaseLost(failure.value)) return yield* failure.value
        }
        if (concurrency > 1) {
          const byStream = new Map<string, Array<RecordedEvent>>()
          for (const event of batch) {
            const events = byStream.get(event.streamId)
            if (events === undefined) byStream.set(event.streamId, [event])
            else events.push(event)
          }
          // each stream in order, streams in parallel; the checkpoint moves once all are done
          yield* Effect.forEach(
            byStream.values(),
            (events) => Effect.forEach(events, (event) => settle(event, Effect.sandbox(handle(event)), Effect.void)),
            { concurrency, discard: true }
          )
          return yield* save(last.position)
        }
        yield* Effect.forEach(batch, processOne, { discard: true })
      })

    /** Replay one stream's parked events in order; stop at the first that fails again. */
    const redriveStream = (stream: string, letters: ReadonlyArray<DeadLetter>) =>
      Effect.gen(function* () {
        parkedStreams.delete(stream)
        for (const letter of letters) {
          const event = yield* store.findEvent(letter.eventId)
          if (Option.isNone(event)) continue
          const redriven = yield* inUnit(
            Effect.andThen(handle(event.value), deadLetters.setStatus(name, letter.eventId, "redriven"))
          ).pipe(Effect.retry(retry), Effect.exit)
          if (Exit.isFailure(redriven)) {
            // still failing: it stays parked, and so does the rest of its stream
            parkedStreams.add(stream)
            return yield* Effect.logWarning(
              `subscription ${name}: redrive of ${letter.eventId} failed again`,
              describe(redriven.cause)
            )
          }
          yield* Metric.update(handled, 1)
        }
      })

    const redrive = (streamId: string | undefined) =>
      Effect.gen(function* () {
        const parked = (yield* deadLetters.list(name, "parked")).filter(
          (letter) => streamId === undefined || letter.streamId === streamId
        )
        const streams = [...new Set(parked.map((letter) => letter.streamId))]
        yield* Effect.forEach(
          streams,
          (stream) =>
            redriveStream(
              stream,
              parked.filter((letter) => letter.streamId === stream)
            ),
          { discard: true }
        )
      })

    const reset = Effect.gen(function* () {
      yield* unitOfWork.transaction(
        Effect.gen(function* () {
          if (options.onReset !== undefined) {
            yield* Effect.provideContext(options.onReset, context).pipe(
              Effect.mapError((cause) => new InfrastructureError({ operation: "subscription.reset", cause }))
            )
          }
          yield* deadLetters.clear(name)
          yield* checkpoints.reset(name, owner)
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
        if (Option.isSome(lost) && isLeaseLost(lost.value)) {
          operation.done(Exit.fail(new InfrastructureError({ operation: operation._tag, cause: lost.value })))
          return yield* lost.value
        }
        operation.done(
          Exit.isSuccess(exit)
            ? Exit.void
            : Exit.fail(new InfrastructureError({ operation: operation._tag, cause: Cause.squash(exit.cause) }))
        )
      }
      return pending.length > 0
    })

    const read = (after: Position.Position) =>
      Stream.runCollect(store.readAll({ after, batchSize, ...filter }).pipe(Stream.take(batchSize)))

    /** While we hold the lease: read, handle, checkpoint; sleep until woken or the poll interval. */
    const lead = (from: Position.Position) =>
      Effect.gen(function* () {
        const state: {
          cursor: Position.Position
          // while a full batch is handled, the next one is read (catching up overlaps reading and handling)
          readAhead: Fiber.Fiber<Array<RecordedEvent>, InfrastructureError> | undefined
        } = { cursor: from, readAhead: undefined }
        for (const letter of yield* deadLetters.list(name, "parked")) parkedStreams.add(letter.streamId)
        const step = Effect.gen(function* () {
          if (yield* runOperations) {
            if (state.readAhead !== undefined) yield* Fiber.interrupt(state.readAhead)
            state.readAhead = undefined
            const current = yield* checkpoints.get(name)
            // a reset moved the checkpoint back
            if (Option.isSome(current) && Position.compare(current.value, state.cursor) < 0) {
              state.cursor = current.value
            }
          }
          const batch = state.readAhead === undefined ? yield* read(state.cursor) : yield* Fiber.join(state.readAhead)
          state.readAhead = undefined
          const last = batch[batch.length - 1]
          if (last !== undefined) {
            if (batch.length === batchSize) state.readAhead = yield* Effect.forkChild(read(last.position))
            // a batch in flight is finished (and checkpointed) even when the runner is stopped
            yield* Effect.uninterruptible(processBatch(batch))
            yield* PubSub.publish(progress, undefined)
            if (options.afterCommit !== undefined) yield* options.afterCommit(batch)
            state.cursor = last.position
            if (batch.length === batchSize) return
          }
          yield* Queue.take(wakeUps).pipe(Effect.timeoutOption(pollInterval))
        })
        return yield* Effect.forever(step)
      })

    const heartbeat = checkpoints
      .renew(name, owner, ttl)
      .pipe(Effect.repeat(Schedule.spaced(Duration.millis(Math.max(50, ttlMillis / 3)))))

    const runAsLeader = (from: Position.Position) =>
      Effect.acquireUseRelease(
        Ref.set(active, true),
        () => Effect.raceFirst(lead(from), heartbeat),
        () => Effect.andThen(Ref.set(active, false), Effect.ignore(checkpoints.release(name, owner)))
      )

    const initialPosition = options.startFrom === "end" ? store.headPosition(filter) : Effect.succeed(Position.start)

    // stand by until the lease is ours, lead until it is lost, and again
    const standByOrLead = Effect.gen(function* () {
      const acquired = yield* Effect.flatMap(initialPosition, (initial) =>
        checkpoints.acquire(name, owner, ttl, initial)
      ).pipe(
        Effect.tapError((error) => Effect.logWarning(`subscription ${name}: cannot take the lease`, error)),
        Effect.orElseSucceed(Option.none)
      )
      if (Option.isNone(acquired)) return yield* Effect.sleep(Duration.millis(Math.max(50, ttlMillis / 2)))
      const exit = yield* Effect.exit(runAsLeader(acquired.value))
      if (Exit.isSuccess(exit)) return
      const failure = Cause.findErrorOption(exit.cause)
      if (Option.isSome(failure) && isLeaseLost(failure.value)) {
        return yield* Effect.logInfo(`subscription ${name}: lease lost; standing by`)
      }
      if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.failCause(exit.cause)
      yield* Effect.logError(`subscription ${name} failed; restarting`, exit.cause)
      yield* Effect.sleep("1 second")
    })
    const fiber = yield* Effect.forkScoped(Effect.forever(standByOrLead))

    const request = (make: (done: Operation["done"]) => Operation) =>
      Effect.callback<void, InfrastructureError>((resume) => {
        Queue.offerUnsafe(
          operations,
          make((exit) => resume(exit))
        )
        Queue.offerUnsafe(wakeUps, undefined)
      })

    const lag = Effect.gen(function* () {
      const after = Option.getOrElse(yield* checkpoints.get(name), () => Position.start)
      const measured = yield* store.countAfter(after, filter)
      const now = yield* Clock.currentTimeMillis
      yield* Metric.update(lagGauge, measured.events)
      return {
        events: measured.events,
        millis: Option.match(measured.oldest, {
          onNone: () => 0,
          onSome: (oldest) => Math.max(0, now - oldest.getTime())
        })
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
        const target = yield* store.lastCommittedPosition(filter)
        yield* Queue.offer(wakeUps, undefined)
        const reached = Effect.map(
          checkpoints.get(name),
          (checkpoint) => Option.isSome(checkpoint) && Position.compare(checkpoint.value, target) >= 0
        )
        yield* Effect.repeat(
          Effect.flatMap(reached, (done) =>
            done
              ? Effect.succeed(true)
              : Effect.as(Effect.raceFirst(PubSub.take(progressed), Effect.sleep("100 millis")), false)
          ),
          { until: (done) => done }
        )
      })
    )

    yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))

    return {
      name,
      isActive: Ref.get(active),
      checkpoint: checkpoints.get(name),
      lag,
      caughtUp,
      deadLetters: (status) => deadLetters.list(name, status),
      redrive: (streamId) => request((done) => ({ _tag: "Redrive", streamId, done })),
      skip: (eventId) => deadLetters.setStatus(name, eventId, "skipped"),
      reset: request((done) => ({ _tag: "Reset", done }))
    } satisfies Handle
  })
