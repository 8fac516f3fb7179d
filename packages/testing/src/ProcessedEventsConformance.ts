/**
 * The ProcessedEvents conformance suite: the rules of the inbox port as tests any implementation
 * must pass (in memory, PGlite and PostgreSQL all run it): an event's effect runs once per
 * consumer however often it is delivered, a failed effect is not recorded (so a retry runs it),
 * concurrent deliveries of one event are serialised, and consumers are independent.
 *
 * Tests share one inbox per suite, so each works with event ids of its own.
 *
 * @since 0.2.0
 */
import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { ProcessedEvents } from "@eventline/core"
import { Effect, type Layer, Ref } from "effect"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  readonly timeout?: number | undefined
}

/** An effect that counts its runs, per consumer. */
const counter = Effect.gen(function* () {
  const runs = yield* Ref.make<ReadonlyArray<string>>([])
  return {
    apply: (consumer: string) => Ref.update(runs, (all) => [...all, consumer]),
    runs: Ref.get(runs)
  }
})

/**
 * Run the suite against the inbox `inboxLayer` provides (built once for the suite).
 *
 * @category suites
 * @since 0.2.0
 */
export const run = <E>(
  name: string,
  inboxLayer: Layer.Layer<ProcessedEvents.ProcessedEvents, E>,
  options?: Options
): void => {
  const timeout = options?.timeout ?? 30_000
  layer(inboxLayer, { excludeTestServices: true, timeout: "120 seconds" })(
    `ProcessedEvents conformance: ${name}`,
    (it) => {
      it.effect(
        "runs the effect of an event delivered twice only once",
        () =>
          Effect.gen(function* () {
            const eventId = randomUUID()
            const effect = yield* counter
            const first = yield* ProcessedEvents.once("projection", eventId, effect.apply("projection"))
            const second = yield* ProcessedEvents.once("projection", eventId, effect.apply("projection"))
            assert.deepStrictEqual([first, second], [true, false])
            assert.deepStrictEqual(yield* effect.runs, ["projection"])
          }),
        timeout
      )

      it.effect(
        "does not record an event whose effect failed: the failure comes back and a retry runs it",
        () =>
          Effect.gen(function* () {
            const eventId = randomUUID()
            const effect = yield* counter
            const failing = effect.apply("projection").pipe(Effect.andThen(Effect.fail("the projection broke")))
            const error = yield* Effect.flip(ProcessedEvents.once("projection", eventId, failing))
            assert.strictEqual(error, "the projection broke")

            assert.isTrue(yield* ProcessedEvents.once("projection", eventId, effect.apply("projection")))
            assert.isFalse(yield* ProcessedEvents.once("projection", eventId, effect.apply("projection")))
            assert.deepStrictEqual(yield* effect.runs, ["projection", "projection"])
          }),
        timeout
      )

      it.effect(
        "serialises two deliveries of the same event at the same time: one runs, one skips",
        () =>
          Effect.gen(function* () {
            const eventId = randomUUID()
            const effect = yield* counter
            const slowly = effect.apply("projection").pipe(Effect.andThen(Effect.sleep("100 millis")))
            const results = yield* Effect.all(
              [
                ProcessedEvents.once("projection", eventId, slowly),
                ProcessedEvents.once("projection", eventId, slowly)
              ],
              { concurrency: 2 }
            )
            assert.sameMembers(results, [true, false])
            assert.deepStrictEqual(yield* effect.runs, ["projection"])
          }),
        timeout
      )

      it.effect(
        "keeps consumers apart",
        () =>
          Effect.gen(function* () {
            const eventId = randomUUID()
            const effect = yield* counter
            assert.isTrue(yield* ProcessedEvents.once("projection", eventId, effect.apply("projection")))
            assert.isTrue(yield* ProcessedEvents.once("mailer", eventId, effect.apply("mailer")))
            assert.isFalse(yield* ProcessedEvents.once("mailer", eventId, effect.apply("mailer")))
            assert.isTrue(yield* ProcessedEvents.once("projection", randomUUID(), effect.apply("projection")))
            assert.deepStrictEqual(yield* effect.runs, ["projection", "mailer", "projection"])
          }),
        timeout
      )

      it.effect(
        "passes the effect's value through as a boolean and needs nothing for a skipped event",
        () =>
          Effect.gen(function* () {
            const eventId = randomUUID()
            assert.isTrue(yield* ProcessedEvents.once("projection", eventId, Effect.succeed(42)))
            // a skipped event's effect is not run: a defect here would fail the test
            assert.isFalse(yield* ProcessedEvents.once("projection", eventId, Effect.die("must not run")))
          }),
        timeout
      )
    }
  )
}
