import { assert, describe, it } from "@effect/vitest"
import { InMemoryEventStore, SnapshotStore } from "@eventline/core"
import { EventStoreConformance, SnapshotStoreConformance } from "@eventline/testing"
import { Arbitrary, Effect } from "effect"

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
