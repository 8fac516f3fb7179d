/**
 * The kafkajs consumer loop behind `KafkaConsumer.run`, `KafkaConsumer.consume` and
 * `DeadLetters.redrive`: one message at a time per partition, offsets committed only for
 * messages already processed (at the end of each fetched batch, and at least every
 * `commitInterval` within one: one commit per message capped a partition at one broker round
 * trip per message), heartbeats while a slow message is processed, prompt re-joins on a
 * rebalance, and a graceful stop that commits what was processed.
 *
 * Why `eachBatch` with explicit commits and not `eachMessage` + `consumer.commitOffsets`:
 * kafkajs's `consumer.commitOffsets` silently does nothing once the consumer is stopping, so
 * the message that is in flight at shutdown could never be committed. The batch payload's
 * `commitOffsetsIfNecessary(offsets)` commits through the group directly, and kafkajs leaves
 * the group only after the in-flight batch returns.
 */
import { Cause, Data, Deferred, type Duration, Effect, Exit, FiberSet, Option, type Scope } from "effect"
import type { EachBatchPayload, Kafka, KafkaMessage } from "kafkajs"
import { call, KafkaError } from "../KafkaClient.ts"

/**
 * Kafka consumer-group settings, public as `KafkaConsumer.GroupOptions` (defined here so that
 * the loop does not import the modules built on it).
 *
 * @internal
 */
export interface GroupOptions {
  /** Milliseconds without a heartbeat before the broker drops a member. Default 30000. */
  readonly sessionTimeout?: number | undefined
  /** Milliseconds the group waits for members to re-join during a rebalance. Default 60000. */
  readonly rebalanceTimeout?: number | undefined
  /** Milliseconds between heartbeats (also while a slow message is handled). Default 3000. */
  readonly heartbeatInterval?: number | undefined
  /**
   * Longest wait of one fetch when there is nothing to read. It also bounds how long a stop
   * waits for the fetch in progress. Default 1000.
   */
  readonly maxWaitTimeInMs?: number | undefined
  /** How many partitions are handled at the same time (each one in order). Default 1. */
  readonly partitionsConsumedConcurrently?: number | undefined
  /** Let subscribing create a missing topic (when the broker allows it). Default false. */
  readonly allowAutoTopicCreation?: boolean | undefined
  /**
   * Milliseconds between offset commits within one fetched batch; a batch's last processed
   * offset is always committed when the batch ends. A crash redelivers what was processed since
   * the last commit (at least once). 0 commits after every message. Default 100.
   */
  readonly commitInterval?: number | undefined
}

/** @internal */
export interface LoopOptions {
  readonly topics: ReadonlyArray<string>
  readonly groupId: string
  readonly fromBeginning: boolean
  readonly partitionsConsumedConcurrently: number
  readonly sessionTimeout: number
  readonly rebalanceTimeout: number
  readonly heartbeatInterval: number
  readonly maxWaitTimeInMs: number
  readonly allowAutoTopicCreation: boolean
  readonly commitInterval: number
  readonly shutdownTimeout: Duration.Input
  /** Log a warning when the message in flight has to be interrupted at shutdown. */
  readonly warnOnShutdownTimeout: boolean
}

/** @internal */
export interface LoopMessage {
  readonly topic: string
  readonly partition: number
  readonly message: KafkaMessage
}

/**
 * Returned (as a failure) by a message's processing when it must not be committed: the
 * runner is stopping. The message is redelivered to whoever gets its partition next.
 *
 * @internal
 */
export class Abandoned extends Data.TaggedError("Abandoned")<{
  /** Also pause the partition: this runner wants nothing more from it. */
  readonly pause?: boolean | undefined
}> {}

/** @internal */
export const loopOptions = (
  topics: ReadonlyArray<string>,
  groupId: string,
  options: GroupOptions & {
    readonly fromBeginning?: boolean | undefined
    readonly shutdownTimeout?: Duration.Input | undefined
  }
): LoopOptions => ({
  topics,
  groupId,
  fromBeginning: options.fromBeginning ?? true,
  partitionsConsumedConcurrently: Math.max(1, options.partitionsConsumedConcurrently ?? 1),
  sessionTimeout: options.sessionTimeout ?? 30_000,
  rebalanceTimeout: options.rebalanceTimeout ?? 60_000,
  heartbeatInterval: options.heartbeatInterval ?? 3_000,
  maxWaitTimeInMs: options.maxWaitTimeInMs ?? 1_000,
  allowAutoTopicCreation: options.allowAutoTopicCreation ?? false,
  commitInterval: Math.max(0, options.commitInterval ?? 100),
  shutdownTimeout: options.shutdownTimeout ?? "10 seconds",
  warnOnShutdownTimeout: true
})

/** @internal */
export interface Loop {
  /**
   * Succeeds once the consumer has joined its group (the first assignment). Starting does not
   * wait for it: after a member crashed, joining waits for that member's session timeout.
   */
  readonly ready: Effect.Effect<void>
  /** Fails when kafkajs gives up on the consumer (a crash it does not restart from). */
  readonly done: Effect.Effect<never, KafkaError>
}

/** @internal */
export interface Control {
  /**
   * Commit this message (and the ones before it in its partition) now; otherwise the loop
   * commits it with the next batch commit after `process` succeeded. A second commit does
   * nothing.
   */
  readonly commit: Effect.Effect<void, KafkaError>
  /** Completes when the scope begins to close: stop retrying, do not start new work. */
  readonly stopped: Effect.Effect<void>
}

/** @internal */
export type Process = (message: LoopMessage, control: Control) => Effect.Effect<void, KafkaError | Abandoned>

/** @internal */
export interface Hooks {
  /** Called after an offset was committed (the next offset to read). */
  readonly onCommitted?: ((topic: string, partition: number, nextOffset: bigint) => void) | undefined
}

/** The kafkajs error behind a failure, so that kafkajs recognises a rebalance and re-joins. */
const toThrowable = (error: unknown): unknown =>
  error instanceof KafkaError && error.cause instanceof Error ? error.cause : error

/** @internal */
export const start = (
  kafka: Kafka,
  options: LoopOptions,
  process: Process,
  hooks: Hooks = {}
): Effect.Effect<Loop, KafkaError, Scope.Scope> =>
  Effect.gen(function* () {
    // created first, so closed last: interrupts what the graceful stop left running
    const fibers = yield* FiberSet.make<unknown, unknown>()
    const runPromise = yield* FiberSet.runtimePromise(fibers)<never>()
    const ready = yield* Deferred.make<void>()
    const stopSignal = yield* Deferred.make<void>()
    const crashed = yield* Deferred.make<never, KafkaError>()
    const state: { stopping: boolean; pendingError: unknown } = { stopping: false, pendingError: undefined }
    const log = Effect.annotateLogs({ component: "KafkaConsumer", groupId: options.groupId })

    const consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeout,
      rebalanceTimeout: options.rebalanceTimeout,
      heartbeatInterval: options.heartbeatInterval,
      maxWaitTimeInMs: options.maxWaitTimeInMs,
      allowAutoTopicCreation: options.allowAutoTopicCreation
    })
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const logFromCallback = (effect: Effect.Effect<void>) => {
      runFork(effect.pipe(log))
    }
    const listeners = [
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        // a new generation: errors of the old one are settled
        state.pendingError = undefined
        Deferred.doneUnsafe(ready, Exit.void)
        logFromCallback(
          Effect.logDebug("joined the consumer group").pipe(
            Effect.annotateLogs({ memberId: event.payload.memberId, assignment: event.payload.memberAssignment })
          )
        )
      }),
      consumer.on(consumer.events.REBALANCING, () => {
        logFromCallback(Effect.logDebug("the consumer group is rebalancing: re-joining"))
      }),
      consumer.on(consumer.events.CRASH, (event) => {
        const { error, restart } = event.payload
        logFromCallback(
          restart
            ? Effect.logWarning(`the consumer crashed and restarts: ${error.message}`)
            : Effect.logError(`the consumer crashed and stops: ${error.message}`)
        )
        if (!restart) {
          Deferred.doneUnsafe(crashed, Exit.fail(new KafkaError({ operation: "consumer.run", cause: error })))
        }
      })
    ]

    const heartbeats = (payload: EachBatchPayload) =>
      Effect.sleep(options.heartbeatInterval).pipe(
        Effect.andThen(call("consumer.heartbeat", () => payload.heartbeat())),
        Effect.forever,
        Effect.catch((error) =>
          Effect.sync(() => {
            // usually a rebalance: finish this message, then let kafkajs re-join
            if (state.pendingError === undefined) state.pendingError = toThrowable(error)
          })
        )
      )

    /** Commit up to `next` (the next offset to read) in the batch's partition. */
    const commitTo = (payload: EachBatchPayload, next: bigint) =>
      call("consumer.commitOffsets", () =>
        payload.commitOffsetsIfNecessary({
          topics: [
            {
              topic: payload.batch.topic,
              partitions: [{ partition: payload.batch.partition, offset: next.toString() }]
            }
          ]
        })
      ).pipe(
        Effect.tap(() => Effect.sync(() => hooks.onCommitted?.(payload.batch.topic, payload.batch.partition, next)))
      )

    const handleOne = (payload: EachBatchPayload, message: KafkaMessage) =>
      Effect.gen(function* () {
        const { partition, topic } = payload.batch
        yield* Effect.forkChild(heartbeats(payload))
        let committed = false
        const commit = Effect.suspend(() =>
          committed
            ? Effect.void
            : commitTo(payload, BigInt(message.offset) + 1n).pipe(
                Effect.tap(() =>
                  Effect.sync(() => {
                    committed = true
                  })
                )
              )
        )
        const processed = yield* Effect.result(
          process({ topic, partition, message }, { commit, stopped: Deferred.await(stopSignal) })
        )
        if (processed._tag === "Failure") {
          if (processed.failure._tag === "Abandoned") {
            if (processed.failure.pause === true) consumer.pause([{ topic, partitions: [partition] }])
            return "abandoned" as const
          }
          return yield* processed.failure
        }
        return committed ? ("committed" as const) : ("processed" as const)
      })

    const fail = (error: unknown): never => {
      const throwable = toThrowable(error)
      if (state.pendingError === undefined) state.pendingError = throwable
      throw throwable
    }

    const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
      // the next offset after the last message processed but not committed yet
      let uncommitted: bigint | undefined
      let lastCommit = Date.now()
      const flush = async () => {
        if (uncommitted === undefined || payload.isStale()) return
        const next = uncommitted
        uncommitted = undefined
        lastCommit = Date.now()
        await runPromise(commitTo(payload, next))
      }
      const flushOrFail = async () => {
        try {
          await flush()
        } catch (error) {
          if (!state.stopping) fail(error)
        }
      }
      for (const message of payload.batch.messages) {
        if (state.stopping || !payload.isRunning() || payload.isStale()) return flushOrFail()
        if (state.pendingError !== undefined) {
          await flushOrFail()
          throw state.pendingError
        }
        let outcome: "committed" | "processed" | "abandoned"
        try {
          outcome = await runPromise(handleOne(payload, message))
        } catch (error) {
          if (state.stopping) return flushOrFail()
          // keep what the earlier messages did, then let kafkajs redeliver this one
          await flush().catch(() => undefined)
          return fail(error)
        }
        if (outcome === "abandoned") return flushOrFail()
        payload.resolveOffset(message.offset)
        uncommitted = outcome === "committed" ? undefined : BigInt(message.offset) + 1n
        if (outcome === "committed") lastCommit = Date.now()
        if (state.stopping) return flushOrFail()
        if (Date.now() - lastCommit >= options.commitInterval) await flushOrFail()
        try {
          await payload.heartbeat()
        } catch (error) {
          await flush().catch(() => undefined)
          return fail(error)
        }
      }
      await flushOrFail()
      if (state.pendingError !== undefined) throw state.pendingError
    }

    const shutdown = Effect.gen(function* () {
      state.stopping = true
      yield* Deferred.succeed(stopSignal, undefined)
      // kafkajs stops fetching, waits for the batch in flight (its commit included), then
      // leaves the group, so that the partitions move to another member at once
      const disconnecting = yield* Effect.sync(() => consumer.disconnect())
      const awaitDisconnect = call("consumer.disconnect", () => disconnecting)
      const finished = yield* awaitDisconnect.pipe(Effect.interruptible, Effect.timeoutOption(options.shutdownTimeout))
      if (Option.isNone(finished)) {
        if (options.warnOnShutdownTimeout) {
          yield* Effect.logWarning(
            "the message in flight did not finish within the shutdown timeout: interrupted, it will be redelivered"
          )
        }
        yield* FiberSet.clear(fibers)
        yield* awaitDisconnect.pipe(Effect.interruptible, Effect.timeoutOption("30 seconds"))
      }
    }).pipe(
      Effect.catchCause((cause) => Effect.logWarning("the consumer did not stop cleanly", Cause.pretty(cause))),
      Effect.ensuring(
        Effect.sync(() => {
          for (const remove of listeners) remove()
        })
      ),
      log
    )

    yield* Effect.acquireRelease(
      call("consumer.connect", () => consumer.connect()),
      () => shutdown
    )
    yield* call("consumer.subscribe", () =>
      consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning })
    )
    // kafkajs's run resolves only once the group is joined, which after a member's crash waits
    // for that member's session timeout: run it in the background, `ready` says when it joined
    yield* call("consumer.run", () =>
      consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
        eachBatch
      })
    ).pipe(
      Effect.catch((error) => Deferred.fail(crashed, error)),
      FiberSet.run(fibers)
    )
    return {
      ready: Deferred.await(ready),
      done: Deferred.await(crashed)
    }
  })
