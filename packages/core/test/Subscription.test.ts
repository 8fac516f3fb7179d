import { assert, it } from "@effect/vitest"
import { EventStore, ExpectedVersion, InMemoryStore, Subscription, UnitOfWork } from "@eventline/core"
import { SubscriptionConformance } from "@eventline/testing"
import { Cause, Duration, Effect, Exit } from "effect"

SubscriptionConformance.run("in-memory", InMemoryStore.layer)

it.effect("a subscription that would never poll is refused: lost wake-ups must be bounded by the poll", () =>
  Effect.gen(function* () {
    const exit = yield* Subscription.start({
      name: "never-polls",
      pollInterval: Duration.infinity,
      handle: () => Effect.void
    }).pipe(Effect.scoped, Effect.provide(InMemoryStore.layer), Effect.exit)
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "pollInterval must be finite")
  })
)

const appendFive = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  for (const stream of ["batch-a", "batch-b"]) {
    yield* store.append(
      stream,
      ExpectedVersion.NoStream,
      Array.from({ length: stream === "batch-a" ? 3 : 2 }, () => ({
        type: "Happened",
        schemaVersion: 1,
        data: {},
        metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
      })),
      { streamType: "Batch" }
    )
  }
})

/** A subscription with both handlers, recording what each was given, run until it caught up. */
const batchAndEventHandlers = (failBatch: boolean) =>
  Effect.gen(function* () {
    const batches: Array<number> = []
    const events: Array<string> = []
    yield* appendFive
    const handle = yield* Subscription.start({
      name: `batch-entry-${failBatch}`,
      streamTypes: ["Batch"],
      handle: (event) => Effect.sync(() => events.push(`${event.streamId}@${event.version}`)),
      handleBatchAtomically: (batch) =>
        Effect.andThen(
          Effect.sync(() => batches.push(batch.length)),
          failBatch ? Effect.fail("the batch statement failed") : Effect.void
        )
    })
    yield* handle.caughtUp
    return { batches, events }
  }).pipe(Effect.scoped)

/** The in-memory store with a unit of work that claims to be atomic (a transaction of nothing). */
const atomically = Effect.provideService(UnitOfWork.UnitOfWork, { atomic: true, transaction: (effect) => effect })

it.effect(
  "with an atomic unit of work, a transactional subscription hands the whole batch to handleBatchAtomically",
  () =>
    Effect.gen(function* () {
      const { batches, events } = yield* atomically(batchAndEventHandlers(false))
      assert.deepStrictEqual(batches, [5])
      assert.deepStrictEqual(events, [])
    }).pipe(Effect.provide(InMemoryStore.layer))
)

it.effect("a failed batch goes event by event through handle, in order", () =>
  Effect.gen(function* () {
    const { batches, events } = yield* atomically(batchAndEventHandlers(true))
    assert.deepStrictEqual(batches, [5])
    assert.deepStrictEqual(events, ["batch-a@1", "batch-a@2", "batch-a@3", "batch-b@1", "batch-b@2"])
  }).pipe(Effect.provide(InMemoryStore.layer))
)

it.effect("without an atomic unit of work, handleBatchAtomically is not used: handle takes each event", () =>
  Effect.gen(function* () {
    const { batches, events } = yield* batchAndEventHandlers(false)
    assert.deepStrictEqual(batches, [])
    assert.strictEqual(events.length, 5)
  }).pipe(Effect.provide(InMemoryStore.layer))
)
