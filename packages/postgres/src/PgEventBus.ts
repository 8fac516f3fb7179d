/**
 * The embedded event bus, durable: topics are logs in the store's database (PGlite or
 * PostgreSQL) and consumer groups commit their offsets there, so a consumer resumes where it
 * committed after any stop, a kill -9 included. It implements the `EventBus` contract with the
 * same delivery rules as Kafka (commit after success, retries in place on the handler's schedule,
 * dead-letter topics with the same headers, redrive, graceful stop) and passes the same
 * `EventBusConformance` suite, so code written against `EventBus` runs on it, on Kafka or on
 * the in-memory `InProcessBus` (a test fake) unchanged.
 *
 * - Order: a topic has one partition (partition 0). Offsets are allocated under the topic's row
 *   lock, so they commit in order and a reader never skips one that commits late.
 * - One active member per group and topic, across processes: a lease with an expiry, renewed by
 *   a heartbeat; every commit is fenced by it. The other members wait and take over when it is
 *   released (a graceful stop) or expires (a crash).
 * - Commits: at the end of each page of messages, within a page at least every `commitInterval`,
 *   and when the runner stops, so a crash redelivers only what was handled since the last commit
 *   (at least once: handlers are idempotent, see `ProcessedEvents`).
 * - Wake-ups: a publish in this process wakes its consumers at once; a publish from another
 *   process is seen within `pollInterval`.
 * - Retention: a topic keeps at least its last `maxRecordsPerTopic` records; a group that falls
 *   further behind continues from the oldest kept (as Kafka's retention does).
 *
 * Its tables (`bus_topics`, `bus_records`, `bus_offsets`, in `PgStoreConfig.schema`) are created
 * by its own migrations, tracked in `<schema>.bus_migrations`, when `layer` is built.
 *
 * @since 0.3.0
 */
import { type CheckpointStore, DeadLetterTopic, Errors, EventBus, EventEnvelope, Uuid } from "@eventline/core"
import {
  Clock,
  Context,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Schedule,
  Schema,
  type Scope
} from "effect"
import { type Migrator, SqlClient, type SqlError } from "effect/sql"
import * as busSql from "./internal/busSql.ts"
import { transaction } from "./internal/transaction.ts"
import * as Migrations from "./Migrations.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * @category services
 * @since 0.3.0
 */
export class PgEventBus extends Context.Service<
  PgEventBus,
  EventBus.EventBus["Service"] & {
    /** Messages of `topic` the group has still to handle (all kept records when it never committed). */
    readonly lag: (groupId: string, topic: string) => Effect.Effect<number, Errors.InfrastructureError>
    /** A group's next offset in a topic, if it has joined it. */
    readonly committed: (
      groupId: string,
      topic: string
    ) => Effect.Effect<Option.Option<number>, Errors.InfrastructureError>
  }
>()("@eventline/postgres/PgEventBus") {}

/**
 * @category models
 * @since 0.3.0
 */
export interface Options {
  /** Records kept per topic; older ones are deleted. Default 100,000. */
  readonly maxRecordsPerTopic?: number | undefined
  /** How often a waiting consumer looks for messages published by other processes. Default 1 second. */
  readonly pollInterval?: Duration.Input | undefined
  /** How long a member's lease lasts without a heartbeat (then another member takes over). Default 10 seconds. */
  readonly leaseTtl?: Duration.Input | undefined
  /** Messages read together. Default 100. */
  readonly pageSize?: number | undefined
  /**
   * A consumer commits at the end of each page, at a stop, and within a page at least this often.
   * Default 100 ms.
   */
  readonly commitInterval?: Duration.Input | undefined
}

const validate = Schema.decodeUnknownEffect(EventEnvelope.RecordedEvent)

/** Database trouble inside a runner: try again, backing off up to 5 s, for as long as it runs. */
const recover = Schedule.min([Schedule.exponential("100 millis", 2), Schedule.spaced("5 seconds")])

/**
 * Make a bus over the store's database.
 *
 * @category constructors
 * @since 0.3.0
 */
export const make = (options: Options = {}): Effect.Effect<PgEventBus["Service"], never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const { schema } = yield* PgStoreConfig
    const sql = yield* SqlClient.SqlClient
    const db = yield* busSql.make(schema)
    const inTransaction = transaction(sql, "bus.redrive")
    const maxRecords = Math.max(1, options.maxRecordsPerTopic ?? 100_000)
    const trimStep = Math.max(1, Math.floor(maxRecords / 8))
    const pollInterval = Duration.fromInputUnsafe(options.pollInterval ?? "1 second")
    const ttl = Duration.fromInputUnsafe(options.leaseTtl ?? "10 seconds")
    const heartbeatEvery = Duration.millis(Math.max(50, Duration.toMillis(ttl) / 3))
    const pageSize = Math.max(1, options.pageSize ?? 100)
    const commitEvery = Duration.toMillis(Duration.fromInputUnsafe(options.commitInterval ?? "100 millis"))

    // publishes of this process wake its consumers; one deferred per topic, replaced when completed
    const wakeUps = new Map<string, Deferred.Deferred<void>>()
    const appended = (topic: string): Deferred.Deferred<void> => {
      let found = wakeUps.get(topic)
      if (found === undefined) {
        found = Deferred.makeUnsafe<void>()
        wakeUps.set(topic, found)
      }
      return found
    }
    const wake = (topic: string) =>
      Effect.sync(() => {
        const found = wakeUps.get(topic)
        if (found === undefined) return
        wakeUps.delete(topic)
        Deferred.doneUnsafe(found, Exit.void)
      })

    /** Append, then trim when the topic crossed a step of an eighth of its limit, then wake. */
    const append = (topic: string, entries: ReadonlyArray<busSql.Entry>) =>
      Effect.gen(function* () {
        if (entries.length === 0) return
        const end = yield* db.append(topic, entries)
        const start = end - entries.length
        if (end > maxRecords && Math.floor(end / trimStep) > Math.floor(start / trimStep)) {
          yield* db.trim(topic, end - maxRecords)
        }
        yield* wake(topic)
      })

    const publish = (topic: string, events: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
      Effect.gen(function* () {
        // the same rules as on Kafka: every event satisfies the envelope schema, or nothing is published
        const publishedAt = DateTime.formatIso(yield* DateTime.now)
        const entries = yield* Effect.forEach(events, (event) =>
          validate(event).pipe(
            Effect.map(
              (valid): busSql.Entry => ({
                key: valid.streamId,
                event: valid,
                headers: EventBus.headersOf(valid, publishedAt)
              })
            ),
            Effect.mapError((error) => new Errors.InvalidEvent({ streamId: event.streamId, reason: error.message }))
          )
        )
        yield* append(topic, entries)
      })

    /**
     * Hold the group's lease on `topic` while `use` runs: wait (polling) while another member
     * holds it, renew it by a heartbeat, release it afterwards. `None` if `stop` came first.
     */
    const withLease = <A, E, R>(
      groupId: string,
      topic: string,
      owner: string,
      fromBeginning: boolean,
      stop: Effect.Effect<void>,
      use: (offset: number) => Effect.Effect<A, E, R>
    ): Effect.Effect<Option.Option<A>, E | Errors.InfrastructureError | CheckpointStore.LeaseLost, R | Scope.Scope> =>
      Effect.gen(function* () {
        const take = db.acquire(groupId, topic, owner, ttl, fromBeginning)
        const waitTurn = Effect.raceFirst(Effect.as(Effect.sleep(pollInterval), false), Effect.as(stop, true))
        let offset = yield* take
        while (Option.isNone(offset)) {
          if (yield* waitTurn) return Option.none()
          offset = yield* take
        }
        yield* Effect.addFinalizer(() => Effect.ignore(db.release(groupId, topic, owner)))
        const heartbeat = db
          .renew(groupId, topic, owner, ttl)
          .pipe(Effect.repeat(Schedule.spaced(heartbeatEvery)), Effect.andThen(Effect.never))
        return Option.some(yield* Effect.raceFirst(use(offset.value), heartbeat))
      })

    const run = <E, R>(
      topicNames: ReadonlyArray<string>,
      groupId: string,
      handler: EventBus.Handler<E, R>,
      runOptions: EventBus.RunOptions = {}
    ): Effect.Effect<EventBus.Runner<Errors.InfrastructureError>, never, R | Scope.Scope> =>
      Effect.gen(function* () {
        const context = yield* Effect.context<R>()
        const schedule = runOptions.retry ?? EventBus.defaultRetry
        const deadLetterTopic = runOptions.deadLetterTopic ?? DeadLetterTopic.topicFor
        const fromBeginning = runOptions.fromBeginning ?? true
        const owner = yield* Uuid.makeV7
        const stop = yield* Deferred.make<void>()
        const stopped = Deferred.await(stop)
        const state = { stopping: false, joined: new Set<string>() }
        const ready = yield* Deferred.make<void>()

        /** Consume one topic while holding its lease; returns once stopped. */
        const consume = (topic: string, from: number) =>
          Effect.gen(function* () {
            const cursor = { next: from, committed: from, committedAt: yield* Clock.currentTimeMillis }
            const commit = Effect.gen(function* () {
              if (cursor.next <= cursor.committed) return
              const next = cursor.next
              yield* db.commit(groupId, topic, owner, next)
              cursor.committed = next
              cursor.committedAt = yield* Clock.currentTimeMillis
            })
            // the last handled message is committed however the loop ends (a stop, an interruption)
            yield* Effect.addFinalizer(() => Effect.ignore(commit))
            while (!state.stopping) {
              const woken = appended(topic) // taken before reading, so a publish in between is not missed
              const page = yield* db.read(topic, cursor.next, pageSize)
              if (page.length === 0) {
                yield* Effect.raceFirst(Deferred.await(woken), Effect.raceFirst(Effect.sleep(pollInterval), stopped))
                continue
              }
              for (const record of page) {
                if (state.stopping) break
                const { event, headers, key, offset } = record
                const delivery = { topic, partition: 0, offset: String(offset), key, headers }
                const outcome = yield* EventBus.handleWithRetries(handler, event, delivery, schedule, stopped).pipe(
                  Effect.provideContext(context)
                )
                if (outcome._tag === "Abandoned") return
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
                  yield* Effect.logWarning(
                    `parked in ${parkedIn} after ${outcome.attempts} attempt(s): ${outcome.error}`
                  )
                }
                cursor.next = offset + 1
                if ((yield* Clock.currentTimeMillis) - cursor.committedAt >= commitEvery) yield* commit
              }
              yield* commit
            }
          })

        const consumeTopic = (topic: string) =>
          withLease(groupId, topic, owner, fromBeginning, stopped, (from) =>
            Effect.gen(function* () {
              state.joined.add(topic)
              if (state.joined.size === topicNames.length) yield* Deferred.succeed(ready, undefined)
              yield* consume(topic, from)
            })
          ).pipe(
            Effect.scoped,
            Effect.tapError((error) =>
              Effect.logWarning(`consumer of ${topic} stopped by ${error._tag}; joining again`, error)
            ),
            // database trouble or a lost lease: join again (until stopped)
            Effect.retry({ schedule: recover, while: () => !state.stopping }),
            Effect.ignore,
            Effect.annotateLogs({ component: "PgEventBus", groupId, topic })
          )

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

    const redrive = (
      deadLetterTopic: string,
      redriveOptions: EventBus.RedriveOptions = {}
    ): Effect.Effect<EventBus.RedriveResult, Errors.InfrastructureError> =>
      Effect.gen(function* () {
        const groupId = redriveOptions.groupId ?? `${deadLetterTopic}.redrive`
        const maxMessages = redriveOptions.maxMessages ?? Number.POSITIVE_INFINITY
        const owner = yield* Uuid.makeV7
        const { end } = yield* db.bounds(deadLetterTopic)
        const result = { redriven: 0, skipped: 0 }
        const busy = new Errors.InfrastructureError({
          operation: "bus.redrive",
          cause: new Error(`another redrive of ${deadLetterTopic} is running (group ${groupId})`)
        })
        const move = (from: number) =>
          Effect.gen(function* () {
            let next = from
            while (next < end && result.redriven < maxMessages) {
              const page = yield* db.read(deadLetterTopic, next, Math.min(pageSize, end - next))
              const record = page[0]
              if (record === undefined || record.offset >= end) return
              const original = record.headers[DeadLetterTopic.Headers.originalTopic]
              // each message moved and the redrive group's offset in one transaction: moved once
              const movedTo = original === undefined || original === "" ? undefined : original
              yield* inTransaction(
                Effect.andThen(
                  movedTo === undefined
                    ? Effect.void
                    : db.append(movedTo, [
                        {
                          key: record.key,
                          event: record.event,
                          headers: DeadLetterTopic.redriveHeaders(record.headers)
                        }
                      ]),
                  db.commit(groupId, deadLetterTopic, owner, record.offset + 1)
                )
              )
              if (movedTo === undefined) {
                result.skipped += 1
                yield* Effect.logWarning(
                  `message ${record.offset} of ${deadLetterTopic} has no ${DeadLetterTopic.Headers.originalTopic} header: skipped`
                )
              } else {
                result.redriven += 1
                yield* wake(movedTo)
              }
              next = record.offset + 1
            }
          })
        const moved = yield* withLease(groupId, deadLetterTopic, owner, true, Effect.void, move).pipe(Effect.scoped)
        if (Option.isNone(moved)) return yield* busy
        return result
      }).pipe(Effect.catchTag("LeaseLost", (lost) => Effect.fail(Errors.infrastructure("bus.redrive")(lost))))

    const lag = (groupId: string, topic: string) =>
      Effect.gen(function* () {
        const { end, low } = yield* db.bounds(topic)
        const committed = Option.getOrElse(yield* db.committed(groupId, topic), () => low)
        return Math.max(0, end - Math.max(committed, low))
      })

    return PgEventBus.of({ publish, run, redrive, lag, committed: db.committed })
  })

/**
 * The bus as both `PgEventBus` and the `EventBus` contract, over the store's database; its
 * tables are migrated when the layer is built.
 *
 * @category layers
 * @since 0.3.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<PgEventBus | EventBus.EventBus, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> =>
  Layer.effectContext(
    Effect.gen(function* () {
      yield* Migrations.runFor("bus", busSql.migrations)
      const bus = yield* make(options)
      return Context.make(PgEventBus, bus).pipe(Context.add(EventBus.EventBus, bus))
    })
  )
