/**
 * The SnapshotStore conformance suite: what every snapshot store must do, run against the
 * in-memory, PGlite and PostgreSQL stores alike.
 *
 * @since 0.1.0
 */
import { assert, layer } from "@effect/vitest"
import { SnapshotStore, Uuid } from "@eventline/core"
import { Effect, type Layer, Option } from "effect"

const snapshot = (
  streamId: string,
  version: number,
  schemaVersion: number,
  state: SnapshotStore.Snapshot["state"]
) => ({
  streamId,
  streamType: "Counter",
  version,
  schemaVersion,
  state
})

/**
 * @category suites
 * @since 0.1.0
 */
export const run = <E>(name: string, storeLayer: Layer.Layer<SnapshotStore.SnapshotStore, E>): void => {
  layer(storeLayer, { excludeTestServices: true, timeout: "120 seconds" })(
    `SnapshotStore conformance: ${name}`,
    (it) => {
      it.effect("loads nothing for a stream without a snapshot", () =>
        Effect.gen(function* () {
          const store = yield* SnapshotStore.SnapshotStore
          assert.isTrue(Option.isNone(yield* store.load(yield* Uuid.makeV7)))
        })
      )

      it.effect("keeps the state exactly and only ever moves forward", () =>
        Effect.gen(function* () {
          const store = yield* SnapshotStore.SnapshotStore
          const streamId = yield* Uuid.makeV7
          const state = { items: [{ id: "a", n: 1.5 }], text: "Zürich 🚀", nothing: null }
          yield* store.save(snapshot(streamId, 5, 1, state))
          assert.deepStrictEqual(Option.getOrUndefined(yield* store.load(streamId)), snapshot(streamId, 5, 1, state))
          yield* store.save(snapshot(streamId, 3, 1, { older: true }))
          assert.strictEqual(Option.getOrUndefined(yield* store.load(streamId))?.version, 5, "an older one never wins")
          yield* store.save(snapshot(streamId, 9, 1, { newer: true }))
          assert.deepStrictEqual(Option.getOrUndefined(yield* store.load(streamId))?.state, { newer: true })
        })
      )

      it.effect("a snapshot of another state schema version replaces the stored one", () =>
        Effect.gen(function* () {
          const store = yield* SnapshotStore.SnapshotStore
          const streamId = yield* Uuid.makeV7
          yield* store.save(snapshot(streamId, 9, 1, { v: 1 }))
          yield* store.save(snapshot(streamId, 4, 2, { v: 2 }))
          assert.deepStrictEqual(Option.getOrUndefined(yield* store.load(streamId)), snapshot(streamId, 4, 2, { v: 2 }))
        })
      )
    }
  )
}
