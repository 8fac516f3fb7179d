/**
 * The in-memory event bus: topics are in-memory logs inside this process, consumer groups keep
 * their offsets in memory, and dead-letter topics are topics of the same bus. It implements the
 * `EventBus` contract with the same delivery rules as Kafka (commit after success, retries in
 * place, dead letters with the same headers, redrive, graceful stop), so code written against
 * `EventBus` runs on either. It is the fast fake for tests: nothing survives the process, so a
 * consumer that restarts loses what was published and not yet consumed. An embedded application
 * that must resume where its consumers committed uses the store-backed `PgEventBus` of
 * @eventline/postgres (the Order service's default since 0.3.0).
 *
 * Differences from Kafka, by design:
 * - a topic has one partition (partition 0): one active member per group and topic, the other
 *   members wait and take over when it stops (as a Kafka group does with a one-partition topic);
 * - nothing survives the process: the bus lives as long as its layer;
 * - a topic keeps at least its last `maxRecordsPerTopic` records (default 100,000; up to an eighth
 *   more between trims); a group that falls further behind continues from the oldest record kept
 *   (as Kafka's retention does).
 *
 * @since 0.2.0
 */
import { Context, DateTime, Deferred, Effect, Exit, Fiber, Layer, Option, Schema, type Scope, Semaphore } from "effect"
import * as DeadLetterTopic from "./DeadLetterTopic.ts"
import * as Errors from "./Errors.ts"
import {
  defaultRetry,
  EventBus,
  type Handler,
  handleWithRetries,
  headersOf,
  type RedriveOptions,
  type RedriveResult,
  type Runner,
  type RunOptions
} from "./EventBus.ts"
import * as EventEnvelope from "./EventEnvelope.ts"

/**
 * A record of an in-process topic.
 *
 * @category models
 * @since 0.2.0
 */
export interface BusRecord {
  readonly offset: number
  readonly key: string | undefined
  readonly event: EventEnvelope.RecordedEvent
  readonly headers: Readonly<Record<string, string>>
}

/**
 * @category services
 * @since 0.2.0
 */
export class InProcessBus extends Context.Service<
  InProcessBus,
  EventBus["Service"] & {
    /** The records a topic holds now (for inspection and tests). */
    readonly records: (topic: string) => Effect.Effect<ReadonlyArray<BusRecord>>
    /** A group's next offset in a topic, if it has committed one. */
    readonly committed: (groupId: string, topic: string) => Effect.Effect<Option.Option<number>>
  }
>()("@eventline/core/InProcessBus") {}

/**
 * @category models
 * @since 0.2.0
 */
export interface InProcessBusOptions {
  /** Records kept per topic; older ones are dropped. Default 100,000. */
  readonly maxRecordsPerTopic?: number | undefined
}

const validate = Schema.decodeUnknownEffect(EventEnvelope.RecordedEvent)

interface TopicLog {
  /** The offset of `records[0]`. */
  base: number
  readonly records: Array<BusRecord>
  /** Completed (and replaced) whenever records are appended. */
  appended: Deferred.Deferred<void>
}

interface Group {
  readonly committed: Map<string, number>
  /** One active member per topic. */
  readonly permits: Map<string, Semaphore.Semaphore>
}

/**
 * Make a bus. It lives as long as the value is referenced; nothing needs closing.
 *
 * @category constructors
 * @since 0.2.0
 */
export const make = (options: InProcessBusOptions = {}): Effect.Effect<InProcessBus["Service"]> =>
  Effect.sync(() => {
    const maxRecords = Math.max(1, options.maxRecordsPerTopic ?? 100_000)
    const trimStep = Math.floor(maxRecords / 8)
    const topics = new Map<string, TopicLog>()
    const groups = new Map<string, Group>()

    const topicLog = (topic: string): TopicLog => {
      let log = topics.get(topic)
      if (log === undefined) {
        log = { base: 0, records: [], appended: Deferred.makeUnsafe<void>() }
        topics.set(topic, log)
      }
      return log
    }
    const endOf = (log: TopicLog) => log.base + log.records.length

    const group = (groupId: string): Group => {
      let found = groups.get(groupId)
      if (found === undefined) {
        found = { committed: new Map(), permits: new Map() }
        groups.set(groupId, found)
      }
      return found
    }
    const permit = (groupId: string, topic: string): Semaphore.Semaphore => {
      const { permits } = group(groupId)
      let found = permits.get(topic)
      if (found === undefined) {
        found = Semaphore.makeUnsafe(1)
        permits.set(topic, found)
      }
      return found
    }

    /** Append records; synchronous, so appends never interleave. */
    const append = (topic: string, entries: ReadonlyArray<Omit<BusRecord, "offset">>): Effect.Effect<void> =>
      Effect.sync(() => {
        if (entries.length === 0) return
        const log = topicLog(topic)
        for (const entry of entries) log.records.push({ ...entry, offset: endOf(log) })
        // trimmed in steps of an eighth of the limit: one splice per many appends, not one per append
        const excess = log.records.length - maxRecords
        if (excess > trimStep) {
          log.records.splice(0, excess)
          log.base += excess
        }
        const appended = log.appended
        log.appended = Deferred.makeUnsafe<void>()
        Deferred.doneUnsafe(appended, Exit.void)
      })

    const publish = (topic: string, events: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
      Effect.gen(function* () {
        // the same rules as on Kafka: every event satisfies the envelope schema, or nothing is published
        const publishedAt = DateTime.formatIso(yield* DateTime.now)
        const entries = yield* Effect.forEach(events, (event) =>
          validate(event).pipe(
            Effect.map(
              (valid): Omit<BusRecord, "offset"> => ({
                key: valid.streamId,
                event: valid,
                headers: headersOf(valid, publishedAt)
              })
            ),
            Effect.mapError((error) => new Errors.InvalidEvent({ streamId: event.streamId, reason: error.message }))
          )
        )
        yield* append(topic, entries)
      })

    /** The next record of `topic` for `groupId`, waiting for one; `None` once `stop` completes. */
    const next = (
      log: TopicLog,
      committed: Map<string, number>,
      topic: string,
      stop: Deferred.Deferred<void>
    ): Effect.Effect<Option.Option<BusRecord>> =>
      Effect.suspend(() => {
        const offset = Math.max(committed.get(topic) ?? log.base, log.base)
        const record = log.records[offset - log.base]
        if (record !== undefined) return Effect.succeedSome(record)
        return Effect.raceFirst(
          Deferred.await(log.appended).pipe(Effect.as(false)),
          Deferred.await(stop).pipe(Effect.as(true))
        ).pipe(Effect.flatMap((stopped) => (stopped ? Effect.succeedNone : next(log, committed, topic, stop))))
      })

    const run = <E, R>(
      topicNames: ReadonlyArray<string>,
      groupId: string,
      handler: Handler<E, R>,
      runOptions: RunOptions = {}
    ): Effect.Effect<Runner<Errors.InfrastructureError>, never, R | Scope.Scope> =>
      Effect.gen(function* () {
        const context = yield* Effect.context<R>()
        const schedule = runOptions.retry ?? defaultRetry
        const deadLetterTopic = runOptions.deadLetterTopic ?? DeadLetterTopic.topicFor
        const { committed } = group(groupId)
        const stop = yield* Deferred.make<void>()
        const state = { stopping: false, joined: 0 }
        const ready = yield* Deferred.make<void>()

        const consumeTopic = (topic: string) =>
          Effect.gen(function* () {
            const log = topicLog(topic)
            const taken = yield* Effect.raceFirst(
              Semaphore.take(permit(groupId, topic), 1).pipe(Effect.as(true)),
              Deferred.await(stop).pipe(Effect.as(false))
            )
            if (!taken) return
            yield* Effect.addFinalizer(() => Semaphore.release(permit(groupId, topic), 1))
            if (!committed.has(topic) && runOptions.fromBeginning === false) committed.set(topic, endOf(log))
            state.joined += 1
            if (state.joined === topicNames.length) Deferred.doneUnsafe(ready, Exit.void)
            // one message per step; a stop (or a message given up on) ends the repetition
            const step = Effect.gen(function* () {
              const record = yield* next(log, committed, topic, stop)
              if (Option.isNone(record)) return false
              const { event, headers, key, offset } = record.value
              const delivery = { topic, partition: 0, offset: String(offset), key, headers }
              const outcome = yield* handleWithRetries(handler, event, delivery, schedule, Deferred.await(stop)).pipe(
                Effect.provideContext(context)
              )
              if (outcome._tag === "Abandoned") return false
              if (outcome._tag === "Failed") {
                const parkedIn = deadLetterTopic(topic)
                const deadLetteredAt = yield* DateTime.now
                yield* append(parkedIn, [
                  {
                    key,
                    event,
                    headers: {
                      ...headers,
                      ...DeadLetterTopic.headers({
                        topic,
                        partition: 0,
                        offset: String(offset),
                        groupId,
                        error: outcome.error,
                        errorType: outcome.errorType,
                        attempts: outcome.attempts,
                        firstFailureAt: outcome.firstFailureAt,
                        deadLetteredAt
                      })
                    }
                  }
                ])
                yield* Effect.logWarning(`parked in ${parkedIn} after ${outcome.attempts} attempt(s): ${outcome.error}`)
              }
              committed.set(topic, offset + 1)
              return true
            })
            if (!state.stopping) yield* step.pipe(Effect.repeat({ while: (more) => more && !state.stopping }))
          }).pipe(Effect.scoped, Effect.annotateLogs({ component: "InProcessBus", groupId, topic }))

        const fibers = yield* Effect.forEach(topicNames, (topic) => Effect.forkScoped(consumeTopic(topic)))
        // runs before the forked fibers are interrupted (finalizers run in reverse order)
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            state.stopping = true
            yield* Deferred.succeed(stop, undefined)
            const finished = yield* Fiber.awaitAll(fibers).pipe(
              Effect.interruptible,
              Effect.timeoutOption(runOptions.shutdownTimeout ?? "10 seconds")
            )
            if (Option.isNone(finished)) {
              yield* Effect.logWarning(
                "the message in flight did not finish within the shutdown timeout: interrupted, it will be redelivered"
              )
              yield* Fiber.interruptAll(fibers)
            }
          })
        )
        if (topicNames.length === 0) yield* Deferred.succeed(ready, undefined)
        return { ready: Deferred.await(ready), done: Effect.never }
      })

    const redrive = (deadLetterTopic: string, redriveOptions: RedriveOptions = {}): Effect.Effect<RedriveResult> =>
      Effect.gen(function* () {
        const groupId = redriveOptions.groupId ?? `${deadLetterTopic}.redrive`
        const maxMessages = redriveOptions.maxMessages ?? Number.POSITIVE_INFINITY
        const log = topicLog(deadLetterTopic)
        const { committed } = group(groupId)
        const end = endOf(log)
        let redriven = 0
        let skipped = 0
        yield* Semaphore.withPermit(
          permit(groupId, deadLetterTopic),
          Effect.gen(function* () {
            const step = Effect.gen(function* () {
              const offset = Math.max(committed.get(deadLetterTopic) ?? log.base, log.base)
              const record = offset < end ? log.records[offset - log.base] : undefined
              if (record === undefined) return false
              const original = record.headers[DeadLetterTopic.Headers.originalTopic]
              if (original === undefined || original === "") {
                skipped += 1
                yield* Effect.logWarning(
                  `message ${offset} of ${deadLetterTopic} has no ${DeadLetterTopic.Headers.originalTopic} header: skipped`
                )
              } else {
                yield* append(original, [
                  {
                    key: record.key,
                    event: record.event,
                    headers: DeadLetterTopic.redriveHeaders(record.headers)
                  }
                ])
                redriven += 1
              }
              committed.set(deadLetterTopic, offset + 1)
              return true
            })
            // up to the end the topic had when redrive started, at most maxMessages moved
            if (redriven < maxMessages)
              yield* step.pipe(Effect.repeat({ while: (more) => more && redriven < maxMessages }))
          })
        )
        return { redriven, skipped }
      })

    const records = (topic: string) => Effect.sync((): ReadonlyArray<BusRecord> => [...topicLog(topic).records])
    const committedOffset = (groupId: string, topic: string) =>
      Effect.sync(() => Option.fromUndefinedOr(groups.get(groupId)?.committed.get(topic)))

    return InProcessBus.of({ publish, run, redrive, records, committed: committedOffset })
  })

/**
 * The bus, as both `InProcessBus` and the `EventBus` contract.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (options: InProcessBusOptions = {}): Layer.Layer<InProcessBus | EventBus> =>
  Layer.effectContext(
    make(options).pipe(Effect.map((bus) => Context.make(InProcessBus, bus).pipe(Context.add(EventBus, bus))))
  )
