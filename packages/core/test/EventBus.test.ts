/**
 * `EventBus.handleWithRetries`, the retry rules every bus shares: attempts numbered from 1,
 * failures and defects retried alike on the schedule, `Failed` with the last failure when the
 * schedule gives up, and a stop that cuts a backoff short (`Abandoned`) without interrupting
 * the attempt in progress.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventBus } from "@eventline/core"
import { EventBusConformance } from "@eventline/testing"
import { Deferred, Effect, Fiber, Layer, Ref, References, Schedule } from "effect"

const event = EventBusConformance.envelope("a", 1)
const delivery = { topic: "t", partition: 0, offset: "0", key: "a", headers: {} }
const quick = Schedule.spaced("5 millis").pipe(Schedule.upTo({ times: 2 }))
const Quiet = Layer.succeed(References.MinimumLogLevel, "None")

describe("EventBus.handleWithRetries", () => {
  it.live("numbers the attempts and succeeds once the handler does", () =>
    Effect.gen(function* () {
      const attempts = yield* Ref.make<ReadonlyArray<number>>([])
      const outcome = yield* EventBus.handleWithRetries(
        (_, { attempt }) =>
          Ref.update(attempts, (all) => [...all, attempt]).pipe(
            Effect.andThen(attempt < 3 ? Effect.fail("not yet") : Effect.void)
          ),
        event,
        delivery,
        quick,
        Effect.never
      )
      assert.deepStrictEqual(outcome, { _tag: "Handled", attempts: 3 })
      assert.deepStrictEqual(yield* Ref.get(attempts), [1, 2, 3])
    }).pipe(Effect.provide(Quiet))
  )

  it.live("retries a defect like a failure and reports the last one when the schedule gives up", () =>
    Effect.gen(function* () {
      const outcome = yield* EventBus.handleWithRetries(
        (_, { attempt }) => (attempt === 1 ? Effect.fail(new Error("first")) : Effect.die(new TypeError("boom"))),
        event,
        delivery,
        quick,
        Effect.never
      )
      assert.strictEqual(outcome._tag, "Failed")
      if (outcome._tag !== "Failed") return
      assert.deepStrictEqual([outcome.error, outcome.errorType, outcome.attempts], ["boom", "TypeError", 3])
    }).pipe(Effect.provide(Quiet))
  )

  it.live("a stop cuts the backoff short, but lets the attempt in progress finish", () =>
    Effect.gen(function* () {
      const stop = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const finished = yield* Ref.make(0)
      const fiber = yield* EventBus.handleWithRetries(
        () =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.sleep("100 millis")),
            Effect.andThen(Ref.update(finished, (n) => n + 1)),
            Effect.andThen(Effect.fail("still failing"))
          ),
        event,
        delivery,
        Schedule.spaced("1 minute"),
        Deferred.await(stop)
      ).pipe(Effect.forkChild)
      yield* Deferred.await(started)
      yield* Deferred.succeed(stop, undefined)
      const outcome = yield* Fiber.join(fiber).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(outcome, { _tag: "Abandoned", attempts: 1 })
      assert.strictEqual(yield* Ref.get(finished), 1, "the attempt in progress ran to its end")
    }).pipe(Effect.provide(Quiet))
  )
})
