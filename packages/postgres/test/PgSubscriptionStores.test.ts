import { assert, describe, layer } from "@effect/vitest"
import { DeadlineStore } from "@eventline/core"
import { CheckpointStoreConformance, DeadLetterStoreConformance, DeadlineStoreConformance } from "@eventline/testing"
import { Effect, Layer, Ref } from "effect"
import { PgStore, PgSubscriptionStores } from "../src/index.ts"
import { databaseUrl, freshDatabase, postgresAvailable } from "./utils.ts"

const available = postgresAvailable()

/** A batch's deadlines in one call: each stored once (a repeated id is ignored, as with `schedule`). */
const scheduleAll = (name: string, stores: Layer.Layer<DeadlineStore.DeadlineStore, unknown>) =>
  layer(stores, { excludeTestServices: true, timeout: "120 seconds" })(`DeadlineStore.scheduleAll: ${name}`, (it) => {
    it.effect("stores a batch of deadlines once each; the ones already stored stay as they were", () =>
      Effect.gen(function* () {
        const store = yield* DeadlineStore.DeadlineStore
        const deadline = (deadlineId: string, dueAt: string, input: number): DeadlineStore.Deadline => ({
          processManager: "schedule-all",
          deadlineId,
          instanceKey: `key-${deadlineId}`,
          dueAt: new Date(dueAt),
          input: { input }
        })
        yield* store.schedule(deadline("b", "2026-06-01T10:00:00.000Z", 1))
        yield* store.scheduleAll([
          deadline("a", "2026-06-01T09:00:00.000Z", 1),
          deadline("b", "2026-06-01T08:00:00.000Z", 2),
          deadline("c", "2026-06-01T11:00:00.000Z", 1),
          deadline("a", "2026-06-01T07:00:00.000Z", 2)
        ])
        yield* store.scheduleAll([])
        const fired = yield* Ref.make<ReadonlyArray<string>>([])
        const fireNext = store.fireNext("schedule-all", new Date("2026-06-02T00:00:00.000Z"), (due) =>
          Ref.update(fired, (all) => [
            ...all,
            `${due.deadlineId}@${due.dueAt.toISOString()}:${JSON.stringify(due.input)}`
          ])
        )
        yield* fireNext.pipe(Effect.repeat({ while: (firedOne) => firedOne }))
        assert.deepStrictEqual(yield* Ref.get(fired), [
          'a@2026-06-01T09:00:00.000Z:{"input":1}',
          'b@2026-06-01T10:00:00.000Z:{"input":1}',
          'c@2026-06-01T11:00:00.000Z:{"input":1}'
        ])
      })
    )
  })

// each suite builds its own store (PGlite, or a fresh PostgreSQL database) for its tests, which use names of their own
const embedded = PgStore.layerEmbedded()
CheckpointStoreConformance.run("PGlite (embedded)", embedded)
DeadLetterStoreConformance.run("PGlite (embedded)", embedded)
DeadlineStoreConformance.run("PGlite (embedded)", embedded)
scheduleAll("PGlite (embedded)", embedded)
scheduleAll("in memory", DeadlineStore.layerMemory)

describe.skipIf(!available)("the subscription ports on PostgreSQL", () => {
  const database = freshDatabase(databaseUrl ?? "")
  const stores = PgSubscriptionStores.layer.pipe(Layer.provide(database))
  CheckpointStoreConformance.run("PostgreSQL", stores)
  DeadLetterStoreConformance.run("PostgreSQL", stores)
  DeadlineStoreConformance.run("PostgreSQL", stores)
  scheduleAll("PostgreSQL", stores)
})
