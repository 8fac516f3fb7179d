/**
 * Snapshots: a stream's folded state at a version, so loading reads the snapshot plus the events
 * after it instead of the whole stream. A snapshot is only a cache: losing one, or failing to
 * write one, never changes a result, and one written under another state schema version is
 * ignored and rebuilt.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { InfrastructureError } from "./Errors.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const Snapshot = Schema.Struct({
  streamId: Schema.String,
  streamType: Schema.String,
  /** The stream version the state was folded up to. */
  version: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** The version of the state's schema; a snapshot of another version is ignored. */
  schemaVersion: Schema.Int,
  state: Schema.Json
})

/**
 * @category models
 * @since 0.1.0
 */
export type Snapshot = typeof Snapshot.Type

/**
 * @category services
 * @since 0.1.0
 */
export class SnapshotStore extends Context.Service<
  SnapshotStore,
  {
    readonly load: (streamId: string) => Effect.Effect<Option.Option<Snapshot>, InfrastructureError>
    /** Keeps the newest snapshot per stream: an older version never replaces a newer one. */
    readonly save: (snapshot: Snapshot) => Effect.Effect<void, InfrastructureError>
  }
>()("@eventline/core/SnapshotStore") {}

/**
 * @category constructors
 * @since 0.1.0
 */
export const makeInMemory = Effect.sync(() => {
  const snapshots = new Map<string, Snapshot>()
  return SnapshotStore.of({
    load: (streamId) => Effect.sync(() => Option.fromNullishOr(snapshots.get(streamId))),
    save: (snapshot) =>
      Effect.sync(() => {
        const current = snapshots.get(snapshot.streamId)
        if (
          current === undefined ||
          current.version < snapshot.version ||
          current.schemaVersion !== snapshot.schemaVersion
        ) {
          snapshots.set(snapshot.streamId, snapshot)
        }
      })
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layerInMemory: Layer.Layer<SnapshotStore> = Layer.effect(SnapshotStore, makeInMemory)
