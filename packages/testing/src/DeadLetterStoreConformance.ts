/**
 * The DeadLetterStore conformance suite: parking, listing, redriving and forgetting the dead
 * letters of subscriptions, run against the in-memory, PGlite and PostgreSQL stores alike.
 *
 * Tests share one store per suite, so each works on subscriptions of its own.
 *
 * @since 0.2.0
 */
import { assert, layer } from "@effect/vitest"
import { DeadLetterStore, type EventEnvelope, Position, Uuid } from "@eventline/core"
import { Effect, type Layer } from "effect"

const unique = (prefix: string) => Effect.map(Uuid.makeV7, (id) => `${prefix}-${id}`)

const recorded = (streamId: string, version: number, position: Position.Position) =>
  Effect.map(
    Uuid.makeV7,
    (eventId): EventEnvelope.RecordedEvent => ({
      eventId,
      streamId,
      streamType: "Parked",
      type: "Happened",
      schemaVersion: 1,
      data: { version },
      metadata: { correlationId: "c-1", occurredAt: "2026-01-01T00:00:00.000Z" },
      version,
      position
    })
  )

const at = (iso: string) => new Date(iso)

const failure = (error: string, attempts: number, first: string, last: string): DeadLetterStore.Failure => ({
  error,
  attempts,
  firstFailedAt: at(first),
  lastFailedAt: at(last)
})

/** What a dead letter says, without the store's own id; dates as numbers so any Date compares. */
const summary = (letter: DeadLetterStore.DeadLetter) => ({
  subscription: letter.subscription,
  position: letter.position,
  streamId: letter.streamId,
  eventId: letter.eventId.toLowerCase(),
  error: letter.error,
  attempts: letter.attempts,
  firstFailedAt: letter.firstFailedAt.getTime(),
  lastFailedAt: letter.lastFailedAt.getTime(),
  status: letter.status
})

const expected = (
  subscription: string,
  event: EventEnvelope.RecordedEvent,
  why: DeadLetterStore.Failure,
  status: DeadLetterStore.Status = "parked"
) => ({
  subscription,
  position: event.position,
  streamId: event.streamId,
  eventId: event.eventId.toLowerCase(),
  error: why.error,
  attempts: why.attempts,
  firstFailedAt: why.firstFailedAt.getTime(),
  lastFailedAt: why.lastFailedAt.getTime(),
  status
})

/**
 * @category suites
 * @since 0.2.0
 */
export const run = <E>(name: string, storeLayer: Layer.Layer<DeadLetterStore.DeadLetterStore, E>): void => {
  layer(storeLayer, { excludeTestServices: true, timeout: "120 seconds" })(
    `DeadLetterStore conformance: ${name}`,
    (it) => {
      it.effect("lists a subscription's dead letters in log order, whatever order they were parked in", () =>
        Effect.gen(function* () {
          const store = yield* DeadLetterStore.DeadLetterStore
          const subscription = yield* unique("ordered")
          // log order is (transaction id, global position): a later transaction may hold an earlier position
          const first = yield* recorded("s-1", 1, Position.make(9n, 70n))
          const second = yield* recorded("s-2", 1, Position.make(10n, 5n))
          const third = yield* recorded("s-1", 2, Position.make(10n, 6n))
          const why = failure("boom", 3, "2026-01-01T10:00:00.000Z", "2026-01-01T10:00:05.250Z")
          yield* store.park(subscription, third, why)
          yield* store.park(subscription, first, why)
          yield* store.park(subscription, second, why)
          assert.deepStrictEqual(yield* store.list(yield* unique("empty")), [])
          const letters = yield* store.list(subscription)
          assert.deepStrictEqual(letters.map(summary), [
            expected(subscription, first, why),
            expected(subscription, second, why),
            expected(subscription, third, why)
          ])
          assert.strictEqual(new Set(letters.map((letter) => letter.id)).size, 3, "each letter has its own id")
        })
      )

      it.effect("setStatus changes that letter of that subscription only, and list filters by status", () =>
        Effect.gen(function* () {
          const store = yield* DeadLetterStore.DeadLetterStore
          const subscription = yield* unique("status")
          const other = yield* unique("status-other")
          const events = yield* Effect.forEach([1, 2, 3], (n) => recorded("s", n, Position.make(BigInt(n), BigInt(n))))
          const [one, two, three] = events as [
            EventEnvelope.RecordedEvent,
            EventEnvelope.RecordedEvent,
            EventEnvelope.RecordedEvent
          ]
          const why = failure("boom", 1, "2026-02-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z")
          yield* Effect.forEach(events, (event) => store.park(subscription, event, why))
          yield* store.park(other, two, why)
          yield* store.setStatus(subscription, two.eventId, "skipped")
          yield* store.setStatus(subscription, three.eventId, "redriven")
          const ids = (letters: ReadonlyArray<DeadLetterStore.DeadLetter>) =>
            letters.map((letter) => letter.eventId.toLowerCase())
          assert.deepStrictEqual(ids(yield* store.list(subscription, "parked")), [one.eventId])
          assert.deepStrictEqual(ids(yield* store.list(subscription, "skipped")), [two.eventId])
          assert.deepStrictEqual(ids(yield* store.list(subscription, "redriven")), [three.eventId])
          assert.deepStrictEqual((yield* store.list(subscription)).map(summary), [
            expected(subscription, one, why),
            expected(subscription, two, why, "skipped"),
            expected(subscription, three, why, "redriven")
          ])
          assert.deepStrictEqual(
            (yield* store.list(other)).map(summary),
            [expected(other, two, why)],
            "the same event of another subscription is untouched"
          )
          yield* store.setStatus(subscription, two.eventId, "parked")
          assert.deepStrictEqual(ids(yield* store.list(subscription, "parked")), [one.eventId, two.eventId])
        })
      )

      it.effect(
        "parking an event again parks it again with the latest error, adds the attempts and keeps when it first failed",
        () =>
          Effect.gen(function* () {
            const store = yield* DeadLetterStore.DeadLetterStore
            const subscription = yield* unique("again")
            const event = yield* recorded("s", 4, Position.make(20n, 21n))
            const first = failure("first failure", 3, "2026-03-01T08:00:00.000Z", "2026-03-01T08:00:02.500Z")
            const second = failure("second failure", 2, "2026-03-02T09:00:00.000Z", "2026-03-02T09:00:01.125Z")
            yield* store.park(subscription, event, first)
            const [parked] = yield* store.list(subscription)
            yield* store.setStatus(subscription, event.eventId, "redriven")
            yield* store.park(subscription, event, second)
            const letters = yield* store.list(subscription)
            assert.deepStrictEqual(letters.map(summary), [
              {
                ...expected(subscription, event, first),
                error: "second failure",
                attempts: 5,
                lastFailedAt: second.lastFailedAt.getTime()
              }
            ])
            assert.strictEqual(letters[0]?.id, parked?.id, "the same letter, not a second one")
          })
      )

      it.effect("clear forgets the dead letters of that subscription only", () =>
        Effect.gen(function* () {
          const store = yield* DeadLetterStore.DeadLetterStore
          const subscription = yield* unique("cleared")
          const other = yield* unique("kept")
          const why = failure("boom", 1, "2026-04-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z")
          const event = yield* recorded("s", 1, Position.make(1n, 1n))
          const later = yield* recorded("s", 2, Position.make(2n, 2n))
          yield* store.park(subscription, event, why)
          yield* store.park(subscription, later, why)
          yield* store.park(other, event, why)
          yield* store.clear(subscription)
          assert.deepStrictEqual(yield* store.list(subscription), [])
          assert.deepStrictEqual((yield* store.list(other)).map(summary), [expected(other, event, why)])
        })
      )

      it.effect("event ids compare case-insensitively", () =>
        Effect.gen(function* () {
          const store = yield* DeadLetterStore.DeadLetterStore
          const subscription = yield* unique("case")
          const event = yield* recorded("s", 1, Position.make(3n, 3n))
          const why = failure("boom", 1, "2026-05-01T00:00:00.000Z", "2026-05-01T00:00:01.000Z")
          yield* store.park(subscription, event, why)
          yield* store.setStatus(subscription, event.eventId.toUpperCase(), "skipped")
          assert.deepStrictEqual((yield* store.list(subscription)).map(summary), [
            expected(subscription, event, why, "skipped")
          ])
          // the same event under an upper-case id is the same letter
          yield* store.park(subscription, { ...event, eventId: event.eventId.toUpperCase() }, why)
          assert.deepStrictEqual((yield* store.list(subscription)).map(summary), [
            { ...expected(subscription, event, why), attempts: 2 }
          ])
        })
      )
    }
  )
}
