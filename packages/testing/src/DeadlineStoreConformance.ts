/**
 * The DeadlineStore conformance suite: durable deadlines of process managers, fired once each,
 * earliest first, run against the in-memory, PGlite and PostgreSQL stores alike.
 *
 * Tests share one store per suite, so each works on process managers of its own.
 *
 * @since 0.2.0
 */
import { assert, layer } from "@effect/vitest"
import { DeadlineStore, Uuid } from "@eventline/core"
import { Effect, type Layer, Ref, Schema } from "effect"

const unique = (prefix: string) => Effect.map(Uuid.makeV7, (id) => `${prefix}-${id}`)

const at = (iso: string) => new Date(iso)

const deadline = (
  processManager: string,
  deadlineId: string,
  dueAt: string,
  input: Schema.Json = { deadlineId }
): DeadlineStore.Deadline => ({
  processManager,
  deadlineId,
  instanceKey: `instance-of-${deadlineId}`,
  dueAt: at(dueAt),
  input
})

/** A deadline as plain data (the date as a number), so that any `Date` compares. */
const summary = (fired: DeadlineStore.Deadline) => ({ ...fired, dueAt: fired.dueAt.getTime() })

/**
 * Fire the next due deadline of `processManager` at `now`, recording what fired into `fired`.
 */
const fireInto = (
  store: DeadlineStore.DeadlineStore["Service"],
  fired: Ref.Ref<ReadonlyArray<DeadlineStore.Deadline>>,
  processManager: string,
  now: string
) => store.fireNext(processManager, at(now), (due) => Ref.update(fired, (all) => [...all, due]))

class FireFailed extends Schema.TaggedError<FireFailed>()("FireFailed", { deadlineId: Schema.String }) {}

/**
 * @category suites
 * @since 0.2.0
 */
export const run = <E>(name: string, storeLayer: Layer.Layer<DeadlineStore.DeadlineStore, E>): void => {
  layer(storeLayer, { excludeTestServices: true, timeout: "120 seconds" })(
    `DeadlineStore conformance: ${name}`,
    (it) => {
      it.effect("fires the earliest due deadline only, one per call, and none that is not due yet", () =>
        Effect.gen(function* () {
          const store = yield* DeadlineStore.DeadlineStore
          const processManager = yield* unique("earliest")
          const fired = yield* Ref.make<ReadonlyArray<DeadlineStore.Deadline>>([])
          assert.isFalse(yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z"), "none scheduled")
          const later = deadline(processManager, "later", "2026-06-01T11:00:00.000Z")
          const future = deadline(processManager, "future", "2026-06-01T13:00:00.000Z")
          const earliest = deadline(processManager, "earliest", "2026-06-01T10:00:00.000Z")
          // scheduled out of order: firing follows dueAt, not the order of scheduling
          yield* store.schedule(later)
          yield* store.schedule(future)
          yield* store.schedule(earliest)
          assert.isTrue(yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z"))
          assert.deepStrictEqual((yield* Ref.get(fired)).map(summary), [summary(earliest)])
          assert.isTrue(yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z"))
          assert.deepStrictEqual((yield* Ref.get(fired)).map(summary), [summary(earliest), summary(later)])
          assert.isFalse(
            yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z"),
            "only a future one left"
          )
          assert.isFalse(
            yield* fireInto(store, fired, processManager, "2026-06-01T12:59:59.999Z"),
            "a millisecond before it is due"
          )
          assert.isTrue(
            yield* fireInto(store, fired, processManager, "2026-06-01T13:00:00.000Z"),
            "due at exactly dueAt"
          )
          assert.deepStrictEqual((yield* Ref.get(fired)).map(summary), [
            summary(earliest),
            summary(later),
            summary(future)
          ])
        })
      )

      it.effect("scheduling the same deadline id again changes nothing", () =>
        Effect.gen(function* () {
          const store = yield* DeadlineStore.DeadlineStore
          const processManager = yield* unique("idempotent")
          const fired = yield* Ref.make<ReadonlyArray<DeadlineStore.Deadline>>([])
          const first = deadline(processManager, "d", "2026-06-01T10:00:00.000Z", { attempt: 1 })
          yield* store.schedule(first)
          yield* store.schedule(first)
          yield* store.schedule(deadline(processManager, "d", "2026-06-01T09:00:00.000Z", { attempt: 2 }))
          assert.isTrue(yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z"))
          assert.isFalse(yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z"))
          assert.deepStrictEqual((yield* Ref.get(fired)).map(summary), [summary(first)])
        })
      )

      it.effect(
        "scheduleAll schedules each like schedule: in dueAt order, a repeated or known id changes nothing",
        () =>
          Effect.gen(function* () {
            const store = yield* DeadlineStore.DeadlineStore
            const processManager = yield* unique("batch")
            const fired = yield* Ref.make<ReadonlyArray<DeadlineStore.Deadline>>([])
            const known = deadline(processManager, "known", "2026-06-01T08:00:00.000Z", { attempt: 1 })
            yield* store.schedule(known)
            const late = deadline(processManager, "late", "2026-06-01T11:00:00.000Z")
            const early = deadline(processManager, "early", "2026-06-01T09:00:00.000Z")
            yield* store.scheduleAll([
              late,
              early,
              deadline(processManager, "early", "2026-06-01T07:00:00.000Z", { attempt: 2 }),
              deadline(processManager, "known", "2026-06-01T07:00:00.000Z", { attempt: 2 })
            ])
            yield* store.scheduleAll([])
            while (yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z")) {}
            assert.deepStrictEqual((yield* Ref.get(fired)).map(summary), [
              summary(known),
              summary(early),
              summary(late)
            ])
          })
      )

      it.effect("a fired deadline never fires again, not even when scheduled again", () =>
        Effect.gen(function* () {
          const store = yield* DeadlineStore.DeadlineStore
          const processManager = yield* unique("once")
          const fired = yield* Ref.make<ReadonlyArray<DeadlineStore.Deadline>>([])
          const once = deadline(processManager, "d", "2026-06-01T10:00:00.000Z")
          yield* store.schedule(once)
          assert.isTrue(yield* fireInto(store, fired, processManager, "2026-06-01T10:00:00.000Z"))
          yield* store.schedule(once)
          assert.isFalse(yield* fireInto(store, fired, processManager, "2026-06-01T10:00:00.000Z"))
          assert.isFalse(yield* fireInto(store, fired, processManager, "2027-01-01T00:00:00.000Z"))
          assert.strictEqual((yield* Ref.get(fired)).length, 1)
        })
      )

      it.effect("a deadline whose firing fails stays pending and fires later", () =>
        Effect.gen(function* () {
          const store = yield* DeadlineStore.DeadlineStore
          const processManager = yield* unique("failing")
          const fired = yield* Ref.make<ReadonlyArray<DeadlineStore.Deadline>>([])
          const flaky = deadline(processManager, "flaky", "2026-06-01T10:00:00.000Z")
          yield* store.schedule(flaky)
          const error = yield* Effect.flip(
            store.fireNext(processManager, at("2026-06-01T10:00:00.000Z"), (due) =>
              Effect.fail(new FireFailed({ deadlineId: due.deadlineId }))
            )
          )
          assert.deepStrictEqual(error, new FireFailed({ deadlineId: "flaky" }), "the fire's own error, unchanged")
          assert.isTrue(yield* fireInto(store, fired, processManager, "2026-06-01T10:00:01.000Z"))
          assert.deepStrictEqual((yield* Ref.get(fired)).map(summary), [summary(flaky)])
          assert.isFalse(yield* fireInto(store, fired, processManager, "2026-06-01T10:00:01.000Z"))
        })
      )

      it.effect("two runners firing at once fire a single due deadline exactly once", () =>
        Effect.gen(function* () {
          const store = yield* DeadlineStore.DeadlineStore
          const processManager = yield* unique("contended")
          const fires = yield* Ref.make(0)
          yield* store.schedule(deadline(processManager, "d", "2026-06-01T10:00:00.000Z"))
          // the fire takes a while, so that the second runner looks while the first is still firing
          const runner = store.fireNext(processManager, at("2026-06-01T10:00:00.000Z"), () =>
            Effect.andThen(
              Effect.sleep("150 millis"),
              Ref.update(fires, (n) => n + 1)
            )
          )
          const outcomes = yield* Effect.all([runner, runner], { concurrency: "unbounded" })
          assert.deepStrictEqual([...outcomes].sort(), [false, true])
          assert.strictEqual(yield* Ref.get(fires), 1)
        })
      )

      it.effect("deadlines of another process manager are not touched", () =>
        Effect.gen(function* () {
          const store = yield* DeadlineStore.DeadlineStore
          const processManager = yield* unique("mine")
          const other = yield* unique("theirs")
          const fired = yield* Ref.make<ReadonlyArray<DeadlineStore.Deadline>>([])
          // the same deadline id in both: ids are unique within a process manager only
          const theirs = deadline(other, "d", "2026-06-01T09:00:00.000Z")
          const mine = deadline(processManager, "d", "2026-06-01T10:00:00.000Z")
          yield* store.schedule(theirs)
          yield* store.schedule(mine)
          assert.isTrue(yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z"))
          assert.isFalse(yield* fireInto(store, fired, processManager, "2026-06-01T12:00:00.000Z"))
          assert.deepStrictEqual((yield* Ref.get(fired)).map(summary), [summary(mine)])
          assert.isTrue(yield* fireInto(store, fired, other, "2026-06-01T12:00:00.000Z"))
          assert.deepStrictEqual((yield* Ref.get(fired)).map(summary), [summary(mine), summary(theirs)])
        })
      )

      it.effect("the input round-trips as JSON", () =>
        Effect.gen(function* () {
          const store = yield* DeadlineStore.DeadlineStore
          const processManager = yield* unique("json")
          const fired = yield* Ref.make<ReadonlyArray<DeadlineStore.Deadline>>([])
          const input: Schema.Json = {
            _tag: "PaymentTimedOut",
            orderId: "o-1",
            amount: 12.5,
            count: -3,
            text: 'Zürich 🚀 "quoted" \\ back',
            flags: [true, false, null],
            nested: { empty: {}, list: [], deep: [{ a: [1, 2, { b: "c" }] }] }
          }
          const scheduled = deadline(processManager, "json", "2026-06-01T10:00:00.123Z", input)
          yield* store.schedule(scheduled)
          assert.isTrue(yield* fireInto(store, fired, processManager, "2026-06-01T10:00:00.123Z"))
          const [got] = yield* Ref.get(fired)
          assert.deepStrictEqual(got?.input, input)
          assert.deepStrictEqual(got === undefined ? undefined : summary(got), summary(scheduled))
        })
      )
    }
  )
}
