/** The SQL of checkpoints and leases: one row per subscription, every write fenced by its owner. */
import { CheckpointStore, Errors, Position } from "@eventline/core"
import { Duration, Effect, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { retryOnConnectionLoss } from "./transient.ts"

const PositionRow = Schema.Struct({ transaction_id: Schema.String, global_position: Schema.BigInt })
const Subscription = Schema.Struct({ subscription: Schema.String })

const toPosition = (row: typeof PositionRow.Type) => Position.make(BigInt(row.transaction_id), row.global_position)
const txid = (position: Position.Position) => Position.transactionId(position).toString()
const gpos = (position: Position.Position) => Position.globalPosition(position).toString()

/** @internal */
export const make = (schema: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const checkpoints = sql(`${schema}.checkpoints`)
    // every statement here is idempotent for its owner; inside a unit of work none is retried alone
    const retry = retryOnConnectionLoss(sql)

    /** No row back: the lease is not ours (any more). */
    const fenced =
      (subscription: string) =>
      <E>(rows: Effect.Effect<ReadonlyArray<unknown>, E>) =>
        Effect.flatMap(rows, (found) =>
          found.length === 0 ? Effect.fail(new CheckpointStore.LeaseLost({ subscription })) : Effect.void
        )

    const acquire = SqlSchema.findOneOption({
      Request: Schema.Struct({
        subscription: Schema.String,
        owner: Schema.String,
        ttlMillis: Schema.Number,
        transactionId: Schema.String,
        globalPosition: Schema.String
      }),
      Result: PositionRow,
      execute: (request) =>
        sql`INSERT INTO ${checkpoints} AS c (subscription_id, transaction_id, global_position, owner, lease_expires_at)
          VALUES (${request.subscription}, ${request.transactionId}::xid8, ${request.globalPosition}::bigint,
            ${request.owner}, now() + ${request.ttlMillis}::int * interval '1 millisecond')
          ON CONFLICT (subscription_id) DO UPDATE SET owner = EXCLUDED.owner, lease_expires_at = EXCLUDED.lease_expires_at
          WHERE c.owner IS NULL OR c.owner = EXCLUDED.owner OR c.lease_expires_at < now()
          RETURNING transaction_id::text AS transaction_id, global_position`
    })

    const current = SqlSchema.findOneOption({
      Request: Subscription,
      Result: PositionRow,
      execute: ({ subscription }) =>
        sql`SELECT transaction_id::text AS transaction_id, global_position FROM ${checkpoints}
          WHERE subscription_id = ${subscription}`
    })

    return CheckpointStore.CheckpointStore.of({
      acquire: (subscription, owner, ttl, initial) =>
        acquire({
          subscription,
          owner,
          ttlMillis: Math.ceil(Duration.toMillis(ttl)),
          transactionId: txid(initial),
          globalPosition: gpos(initial)
        }).pipe(
          retry,
          Effect.map(Option.map(toPosition)),
          Effect.mapError(Errors.infrastructure("subscription.acquire"))
        ),
      renew: (subscription, owner, ttl) =>
        sql`UPDATE ${checkpoints}
          SET lease_expires_at = now() + ${Math.ceil(Duration.toMillis(ttl))}::int * interval '1 millisecond'
          WHERE subscription_id = ${subscription} AND owner = ${owner} RETURNING subscription_id`.pipe(
          retry,
          Effect.mapError(Errors.infrastructure("subscription.renew")),
          fenced(subscription)
        ),
      release: (subscription, owner) =>
        sql`UPDATE ${checkpoints} SET owner = NULL, lease_expires_at = NULL
          WHERE subscription_id = ${subscription} AND owner = ${owner}`.pipe(
          retry,
          Effect.asVoid,
          Effect.mapError(Errors.infrastructure("subscription.release"))
        ),
      save: (subscription, owner, position) =>
        sql`UPDATE ${checkpoints} SET transaction_id = ${txid(position)}::xid8,
            global_position = ${gpos(position)}::bigint, updated_at = now()
          WHERE subscription_id = ${subscription} AND owner = ${owner}
          RETURNING subscription_id`.pipe(
          retry,
          Effect.mapError(Errors.infrastructure("subscription.checkpoint")),
          fenced(subscription)
        ),
      get: (subscription) =>
        current({ subscription }).pipe(
          retry,
          Effect.map(Option.map(toPosition)),
          Effect.mapError(Errors.infrastructure("subscription.checkpoint"))
        ),
      reset: (subscription, owner) =>
        sql`UPDATE ${checkpoints} SET transaction_id = '0'::xid8, global_position = 0, updated_at = now()
          WHERE subscription_id = ${subscription} AND owner = ${owner} RETURNING subscription_id`.pipe(
          retry,
          Effect.mapError(Errors.infrastructure("subscription.reset")),
          fenced(subscription)
        )
    })
  })
