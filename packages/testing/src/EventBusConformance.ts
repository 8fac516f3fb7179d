/**
 * The EventBus conformance suite: every rule of the `EventBus` contract as tests any
 * implementation must pass (the in-memory bus, the store-backed `PgEventBus` on PGlite and
 * PostgreSQL, and Kafka all run it): routing by type, commit
 * after success, redelivery after a crash, graceful stop, retries then dead letters with their
 * headers, later messages continuing, redrive.
 *
 * Each test builds the bus layer afresh and works in topics and consumer groups of its own.
 *
 * @since 0.2.0
 */
import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { DeadLetterTopic, EventBus, type EventEnvelope, Position } from "@eventline/core"
import { Deferred, Effect, Exit, Layer, Queue, Ref, References, Schedule, Scope } from "effect"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options<R> {
  /**
   * A fresh topic (and its dead-letter topic), removed when the scope closes. Default: a new
   * name, for buses that need no set-up.
   */
  readonly topic?: ((prefix: string) => Effect.Effect<string, unknown, Scope.Scope | R>) | undefined
  /** Per test, in milliseconds. Default 40 000. */
  readonly timeout?: number | undefined
}

/**
 * A name no other test (or test run) uses.
 *
 * @category fixtures
 * @since 0.2.0
 */
export const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`

let globalPosition = 0n

/**
 * A recorded event as the store would hand it out.
 *
 * @category fixtures
 * @since 0.2.0
 */
export const envelope = (
  streamId: string,
  version: number,
  type = "OrderCreated",
  data: EventEnvelope.RecordedEvent["data"] = { n: version }
): EventEnvelope.RecordedEvent => {
  globalPosition += 1n
  return {
    eventId: randomUUID(),
    streamId,
    streamType: "Order",
    type,
    schemaVersion: 1,
    data,
    metadata: {
      correlationId: randomUUID(),
      causationId: randomUUID(),
      occurredAt: new Date().toISOString()
    },
    version,
    position: Position.make(globalPosition, globalPosition)
  }
}

/** Retries and parked messages log warnings by design; the suite keeps only errors. */
const QuietLogs = Layer.succeed(References.MinimumLogLevel, "Error")

/** A few quick retries: 3 attempts in all. */
const quickRetry = Schedule.exponential("20 millis", 2).pipe(Schedule.jittered, Schedule.upTo({ times: 2 }))

const within = "15 seconds"

interface Seen {
  readonly eventId: string
  readonly type: string
  readonly streamId: string
  readonly version: number
  readonly attempt: number
  readonly headers: Readonly<Record<string, string>>
}

const seen = (event: EventEnvelope.RecordedEvent, delivery: EventBus.Delivery): Seen => ({
  eventId: event.eventId,
  type: event.type,
  streamId: event.streamId,
  version: event.version,
  attempt: delivery.attempt,
  headers: delivery.headers
})

/**
 * Run the suite against the bus `busLayer` provides (built afresh for every test).
 *
 * @category suites
 * @since 0.2.0
 */
export const run = <R = never>(
  name: string,
  busLayer: Layer.Layer<EventBus.EventBus | R, unknown>,
  options: Options<R> = {}
): void => {
  describe(`EventBus conformance: ${name}`, () => {
    const topicOf = options.topic ?? ((prefix: string) => Effect.succeed(unique(prefix)))
    const live = (title: string, body: () => Effect.Effect<void, unknown, EventBus.EventBus | R | Scope.Scope>) =>
      it.live(title, () => body().pipe(Effect.provide(busLayer), Effect.provide(QuietLogs)), options.timeout ?? 40_000)

    live("routes by event type, skips unknown types, keeps order per key and commits after success", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus.EventBus
        const topic = yield* topicOf("routing")
        const groupId = unique("routing")
        const received = yield* Queue.unbounded<Seen>()
        const record = (event: EventEnvelope.RecordedEvent, delivery: EventBus.Delivery) =>
          Queue.offer(received, seen(event, delivery))
        const handler = EventBus.handlers({ OrderCreated: record, OrderShipped: record, OrderCancelled: record })

        const first = [
          envelope("a", 1, "OrderCreated"),
          envelope("a", 2, "OrderShipped"),
          envelope("b", 1, "OrderCreated"),
          envelope("b", 2, "SomethingElse"),
          envelope("a", 3, "OrderCancelled")
        ]
        yield* bus.publish(topic, first)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const runner = yield* bus.run([topic], groupId, handler, { retry: quickRetry })
            yield* runner.ready.pipe(Effect.timeout(within))
            const got = yield* Queue.takeN(received, 4).pipe(Effect.timeout(within))
            assert.deepStrictEqual(
              got.map(({ type, version, streamId }) => `${streamId}${version}:${type}`),
              ["a1:OrderCreated", "a2:OrderShipped", "b1:OrderCreated", "a3:OrderCancelled"]
            )
            assert.strictEqual(got[0]?.headers["event-id"], first[0]?.eventId)
            assert.isTrue(got.every(({ attempt }) => attempt === 1))
          })
        )

        // a new member of the same group starts after what was committed, the skipped type included
        const second = [envelope("c", 1, "OrderCreated")]
        yield* bus.publish(topic, second)
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* bus.run([topic], groupId, handler, { retry: quickRetry })
            const [next] = yield* Queue.takeN(received, 1).pipe(Effect.timeout(within))
            assert.strictEqual(next?.eventId, second[0]?.eventId)
          })
        )
        assert.strictEqual(yield* Queue.size(received), 0)
      })
    )

    live("redelivers a message whose runner stopped before committing it (at least once)", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus.EventBus
        const topic = yield* topicOf("crash")
        const groupId = unique("crash")
        const events = [envelope("a", 1), envelope("a", 2)]
        yield* bus.publish(topic, events)

        // the first member takes the message and never finishes it: it "crashes" (its scope is
        // closed and its handler interrupted) before the commit
        const started = yield* Deferred.make<string>()
        const scope = yield* Scope.make()
        yield* bus
          .run(
            [topic],
            groupId,
            (event) => Deferred.succeed(started, event.eventId).pipe(Effect.andThen(Effect.never)),
            {
              shutdownTimeout: "200 millis"
            }
          )
          .pipe(Scope.provide(scope))
        const inFlight = yield* Deferred.await(started).pipe(Effect.timeout(within))
        assert.strictEqual(inFlight, events[0]?.eventId)
        yield* Scope.close(scope, Exit.void)

        const received = yield* Queue.unbounded<string>()
        yield* bus.run([topic], groupId, (event) => Queue.offer(received, event.eventId))
        const again = yield* Queue.takeN(received, 2).pipe(Effect.timeout(within))
        assert.deepStrictEqual(
          again,
          events.map(({ eventId }) => eventId)
        )
      })
    )

    live("stops gracefully: the message in flight finishes and is committed", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus.EventBus
        const topic = yield* topicOf("graceful")
        const groupId = unique("graceful")
        const events = [envelope("a", 1), envelope("a", 2)]
        yield* bus.publish(topic, events)

        const started = yield* Deferred.make<void>()
        const finished = yield* Ref.make<ReadonlyArray<string>>([])
        const scope = yield* Scope.make()
        yield* bus
          .run([topic], groupId, (event) =>
            Deferred.succeed(started, undefined).pipe(
              Effect.andThen(Effect.sleep("300 millis")),
              Effect.andThen(Ref.update(finished, (ids) => [...ids, event.eventId]))
            )
          )
          .pipe(Scope.provide(scope))
        yield* Deferred.await(started).pipe(Effect.timeout(within))
        yield* Scope.close(scope, Exit.void)
        // the first message finished; the second was never started
        assert.deepStrictEqual(
          yield* Ref.get(finished),
          events.slice(0, 1).map(({ eventId }) => eventId)
        )

        const received = yield* Queue.unbounded<string>()
        yield* bus.run([topic], groupId, (event) => Queue.offer(received, event.eventId))
        const [next] = yield* Queue.takeN(received, 1).pipe(Effect.timeout(within))
        assert.strictEqual(next, events[1]?.eventId)
      })
    )

    live("stopping during a retry backoff abandons the message: not parked, not committed, redelivered", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus.EventBus
        const topic = yield* topicOf("abandon")
        const groupId = unique("abandon")
        const [event] = [envelope("a", 1)]
        yield* bus.publish(topic, [event])

        const failedOnce = yield* Deferred.make<void>()
        const scope = yield* Scope.make()
        yield* bus
          .run(
            [topic],
            groupId,
            () => Deferred.succeed(failedOnce, undefined).pipe(Effect.andThen(Effect.fail("not yet"))),
            { retry: Schedule.spaced("10 seconds").pipe(Schedule.upTo({ times: 3 })) }
          )
          .pipe(Scope.provide(scope))
        yield* Deferred.await(failedOnce).pipe(Effect.timeout(within))
        // the stop does not sit out the 10 s backoff
        const started = Date.now()
        yield* Scope.close(scope, Exit.void)
        assert.isBelow(Date.now() - started, 5_000)

        assert.deepStrictEqual(
          yield* bus.redrive(DeadLetterTopic.topicFor(topic)),
          { redriven: 0, skipped: 0 },
          "not parked"
        )
        const received = yield* Queue.unbounded<EventBus.Delivery>()
        yield* bus.run([topic], groupId, (_, delivery) => Queue.offer(received, delivery))
        const [again] = yield* Queue.takeN(received, 1).pipe(Effect.timeout(within))
        assert.strictEqual(again?.attempt, 1)
        assert.strictEqual(again?.headers["event-id"], event?.eventId)
      })
    )

    live("retries a failing handler, parks the message with its headers, goes on, and redrives it", () =>
      Effect.gen(function* () {
        const bus = yield* EventBus.EventBus
        const topic = yield* topicOf("retries")
        const groupId = unique("retries")
        const [bad, dying, good] = [envelope("bad", 1), envelope("dying", 1), envelope("good", 1)]
        const fixed = yield* Ref.make(false)
        const attempts = yield* Ref.make<ReadonlyArray<Seen>>([])
        const handled = yield* Queue.unbounded<Seen>()
        const handler = (event: EventEnvelope.RecordedEvent, delivery: EventBus.Delivery) =>
          Effect.gen(function* () {
            yield* Ref.update(attempts, (all) => [...all, seen(event, delivery)])
            if (event.eventId === bad?.eventId && !(yield* Ref.get(fixed))) {
              return yield* Effect.fail(new Error(`cannot handle ${event.streamId} yet`))
            }
            if (event.eventId === dying?.eventId) return yield* Effect.die(new Error("boom"))
            yield* Queue.offer(handled, seen(event, delivery))
          })

        yield* bus.publish(topic, [bad, dying, good])
        const parked = yield* Queue.unbounded<Seen>()
        yield* bus.run([topic], groupId, handler, { retry: quickRetry })
        yield* bus.run([DeadLetterTopic.topicFor(topic)], unique("dlq-reader"), (event, delivery) =>
          Queue.offer(parked, seen(event, delivery))
        )

        // later messages go on once the failing ones are parked
        const [first] = yield* Queue.takeN(handled, 1).pipe(Effect.timeout(within))
        assert.strictEqual(first?.eventId, good?.eventId)
        const tries = (yield* Ref.get(attempts)).filter(({ eventId }) => eventId === bad?.eventId)
        assert.deepStrictEqual(
          tries.map(({ attempt }) => attempt),
          [1, 2, 3]
        )

        const deadLetters = yield* Queue.takeN(parked, 2).pipe(Effect.timeout(within))
        assert.deepStrictEqual(
          deadLetters.map(({ eventId }) => eventId),
          [bad?.eventId, dying?.eventId]
        )
        const [parkedBad, parkedDying] = deadLetters
        const headers = parkedBad?.headers ?? {}
        assert.strictEqual(headers[DeadLetterTopic.Headers.originalTopic], topic)
        assert.match(headers[DeadLetterTopic.Headers.originalPartition] ?? "", /^\d+$/)
        assert.match(headers[DeadLetterTopic.Headers.originalOffset] ?? "", /^\d+$/)
        assert.strictEqual(headers[DeadLetterTopic.Headers.consumerGroup], groupId)
        assert.strictEqual(headers[DeadLetterTopic.Headers.error], "cannot handle bad yet")
        assert.strictEqual(headers[DeadLetterTopic.Headers.errorType], "Error")
        assert.strictEqual(headers[DeadLetterTopic.Headers.attempts], "3")
        const firstFailure = Date.parse(headers[DeadLetterTopic.Headers.firstFailureAt] ?? "")
        const parkedAt = Date.parse(headers[DeadLetterTopic.Headers.deadLetteredAt] ?? "")
        assert.isFalse(Number.isNaN(firstFailure))
        assert.isAtLeast(parkedAt - firstFailure, 40, "backoff between the first failure and parking")
        // the original headers travel with the message
        assert.strictEqual(headers["event-id"], bad?.eventId)
        assert.strictEqual(headers["event-type"], bad?.type)
        // a defect is retried and parked like a failure
        assert.strictEqual(parkedDying?.headers[DeadLetterTopic.Headers.error], "boom")
        assert.strictEqual(parkedDying?.headers[DeadLetterTopic.Headers.attempts], "3")

        // fix the cause and move the parked messages back: they are handled this time
        yield* Ref.set(fixed, true)
        const result = yield* bus.redrive(DeadLetterTopic.topicFor(topic), { maxMessages: 1 })
        assert.deepStrictEqual(result, { redriven: 1, skipped: 0 })
        const [redriven] = yield* Queue.takeN(handled, 1).pipe(Effect.timeout(within))
        assert.strictEqual(redriven?.eventId, bad?.eventId)
        assert.strictEqual(redriven?.attempt, 1)
        assert.strictEqual(redriven?.headers[DeadLetterTopic.Headers.redriveCount], "1")
        assert.isUndefined(redriven?.headers[DeadLetterTopic.Headers.originalTopic])
        assert.strictEqual(redriven?.headers["event-id"], bad?.eventId)

        // redrive stops at the end the dead-letter topic had: the dying message goes back, dies
        // again and is parked again (with its redrive count), and is not redriven twice
        const rest = yield* bus.redrive(DeadLetterTopic.topicFor(topic))
        assert.deepStrictEqual(rest, { redriven: 1, skipped: 0 })
        const [parkedAgain] = yield* Queue.takeN(parked, 1).pipe(Effect.timeout(within))
        assert.strictEqual(parkedAgain?.eventId, dying?.eventId)
        assert.strictEqual(parkedAgain?.headers[DeadLetterTopic.Headers.redriveCount], "1")
        assert.strictEqual(parkedAgain?.headers[DeadLetterTopic.Headers.attempts], "3")
      })
    )
  })
}
