/**
 * A unit of work: what a store adapter offers so that a handler's writes and a checkpoint (or a
 * dead letter, a deadline) commit together or not at all. On SQL it is a transaction, and every
 * statement run through the same client inside it joins; this is how projections are exactly
 * once. Without one (`layerNone`) the effects run one after the other, and at-least-once
 * delivery with idempotent handlers is what remains.
 *
 * @since 0.2.0
 */
import { Context, type Effect, Layer } from "effect"
import type { InfrastructureError } from "./Errors.ts"

/**
 * @category services
 * @since 0.2.0
 */
export class UnitOfWork extends Context.Service<
  UnitOfWork,
  {
    /**
     * Whether `transaction` really is atomic. Without it, a subscription never handles a batch
     * together (it could not undo the part that ran before a failure): it goes event by event.
     */
    readonly atomic: boolean
    /** Run `effect` atomically: on failure, defect or interruption nothing of it is committed. */
    readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | InfrastructureError, R>
  }
>()("@eventline/core/UnitOfWork") {}

/**
 * No transactions: the effect runs as it is (in-memory stores, or handlers whose effects are not
 * in the store's database).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerNone: Layer.Layer<UnitOfWork> = Layer.succeed(
  UnitOfWork,
  UnitOfWork.of({ atomic: false, transaction: (effect) => effect })
)
