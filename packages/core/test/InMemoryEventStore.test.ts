import { assert, describe, it } from "@effect/vitest"
import { CommitSignal, ExpectedVersion, InMemoryEventStore, SnapshotStore } from "@eventline/core"
import { EventStoreConformance, SnapshotStoreConformance } from "@eventline/testing"
import { Arbitrary, Effect, Fiber, Stream } from "effect"

EventStoreConformance.run("in-memory", InMemoryEventStore.layer)
SnapshotStoreConformance.run("in-memory", SnapshotStore.layerInMemory)

describe("InMemoryEventStore under concurrency", () => {
  it.live("random concurrent appends keep versions contiguous, one winner per version, nothing lost (property)", () =>
    Effect.gen(function* () {
      const result = yield* Arbitrary.checkEffect(
        EventStoreConformance.plannedAppends,
        (plans) =>
          EventStoreConformance.checkConcurrentAppends(plans).pipe(
            Effect.map((broken) => broken === undefined),
            Effect.provide(InMemoryEventStore.layer)
          ),
        { runs: 300, size: 60 }
      )
      assert.strictEqual(result._tag, "Passed", Arbitrary.formatCheckFailure(result))
    })
  )
})

describe("InMemoryEventStore with an in-process CommitSignal", () => {
  it.effect("announces every append after it is stored, with its stream type and last position", () =>
    Effect.gen(function* () {
      const signal = yield* CommitSignal.CommitSignal
      const store = yield* InMemoryEventStore.make.pipe(Effect.provideService(CommitSignal.CommitSignal, signal))
      const heard = yield* Effect.forkChild(Stream.runCollect(Stream.take(signal.changes, 2)))
      yield* Effect.yieldNow
      const metadata = { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
      const first = yield* store.append(
        "s-1",
        ExpectedVersion.NoStream,
        [{ type: "A", schemaVersion: 1, data: {}, metadata }],
        {
          streamType: "Alpha"
        }
      )
      const second = yield* store.append(
        "s-2",
        ExpectedVersion.NoStream,
        [{ type: "B", schemaVersion: 1, data: {}, metadata }],
        {
          streamType: "Beta"
        }
      )
      assert.deepStrictEqual(yield* Fiber.join(heard), [
        { streamType: "Alpha", position: first.lastPosition },
        { streamType: "Beta", position: second.lastPosition }
      ])
      assert.strictEqual(yield* store.streamVersion("s-1"), 1, "stored before announced")
    }).pipe(Effect.provide(CommitSignal.layerInProcess))
  )
})
