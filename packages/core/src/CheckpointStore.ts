/**
 * Where subscriptions keep their checkpoints, and the lease that makes one runner per
 * subscription the active one across processes.
 *
 * A lease has an owner and an expiry; the owner renews it (a heartbeat). Every checkpoint write
 * is fenced by the owner: a runner that lost its lease (paused, partitioned, taken over) fails
 * with `LeaseLost` instead of moving the checkpoint, so a stale runner can never commit again.
 *
 * @since 0.2.0
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schema, SynchronizedRef } from "effect"
import type { InfrastructureError } from "./Errors.ts"
import * as Position from "./Position.ts"

/**
 * Another runner holds (or took over) the subscription: stop, and stand by.
 *
 * @category errors
 * @since 0.2.0
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", { subscription: Schema.String }) {}

/**
 * @category services
 * @since 0.2.0
 */
export class CheckpointStore extends Context.Service<
  CheckpointStore,
  {
    /**
     * Take the lease if it is free, ours or expired, and return the checkpoint to start from
     * (`initial` for a subscription never seen before). `None` while another runner holds it.
     */
    readonly acquire: (
      subscription: string,
      owner: string,
      ttl: Duration.Duration,
      initial: Position.Position
    ) => Effect.Effect<Option.Option<Position.Position>, InfrastructureError>
    /**
     * Extend our lease; `LeaseLost` when another runner took it. A lease that expired but was
     * not taken over is still ours (nobody else can have committed in between).
     */
    readonly renew: (
      subscription: string,
      owner: string,
      ttl: Duration.Duration
    ) => Effect.Effect<void, LeaseLost | InfrastructureError>
    /** Give the lease up (a standby may take it at once). */
    readonly release: (subscription: string, owner: string) => Effect.Effect<void, InfrastructureError>
    /** Move the checkpoint, only while `owner` holds the lease (the fence). */
    readonly save: (
      subscription: string,
      owner: string,
      position: Position.Position
    ) => Effect.Effect<void, LeaseLost | InfrastructureError>
    readonly get: (subscription: string) => Effect.Effect<Option.Option<Position.Position>, InfrastructureError>
    /** Back to the start of the log (a rebuild), fenced like `save`. */
    readonly reset: (subscription: string, owner: string) => Effect.Effect<void, LeaseLost | InfrastructureError>
  }
>()("@eventline/core/CheckpointStore") {}

interface Row {
  readonly position: Position.Position
  readonly owner: string | undefined
  readonly expiresAt: number
}

/**
 * An in-memory store (one process; nothing survives it). Lease expiry follows the Effect `Clock`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const makeMemory: Effect.Effect<CheckpointStore["Service"]> = Effect.gen(function* () {
  const rows = yield* SynchronizedRef.make(new Map<string, Row>())
  const fenced = (subscription: string, owner: string, update: (row: Row) => Row) =>
    SynchronizedRef.modifyEffect(rows, (map) => {
      const row = map.get(subscription)
      if (row === undefined || row.owner !== owner) return Effect.fail(new LeaseLost({ subscription }))
      return Effect.succeed([undefined, new Map(map).set(subscription, update(row))] as const)
    })
  return CheckpointStore.of({
    acquire: (subscription, owner, ttl, initial) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        SynchronizedRef.modify(rows, (map) => {
          const row = map.get(subscription)
          if (row !== undefined && row.owner !== undefined && row.owner !== owner && row.expiresAt >= now) {
            return [Option.none(), map] as const
          }
          const position = row?.position ?? initial
          const next = new Map(map).set(subscription, { position, owner, expiresAt: now + Duration.toMillis(ttl) })
          return [Option.some(position), next] as const
        })
      ),
    renew: (subscription, owner, ttl) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        fenced(subscription, owner, (row) => ({ ...row, expiresAt: now + Duration.toMillis(ttl) }))
      ),
    release: (subscription, owner) =>
      SynchronizedRef.update(rows, (map) => {
        const row = map.get(subscription)
        return row === undefined || row.owner !== owner
          ? map
          : new Map(map).set(subscription, { ...row, owner: undefined, expiresAt: 0 })
      }),
    save: (subscription, owner, position) => fenced(subscription, owner, (row) => ({ ...row, position })),
    get: (subscription) =>
      Effect.map(SynchronizedRef.get(rows), (map) =>
        Option.map(Option.fromUndefinedOr(map.get(subscription)), (row) => row.position)
      ),
    reset: (subscription, owner) => fenced(subscription, owner, (row) => ({ ...row, position: Position.start }))
  })
})

/**
 * @category layers
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<CheckpointStore> = Layer.effect(CheckpointStore, makeMemory)
