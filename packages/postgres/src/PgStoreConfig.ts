/**
 * Where Eventline keeps its tables and how it announces commits: the schema (default
 * `eventline`) and the NOTIFY channel (default `eventline_events`).
 *
 * @since 0.1.0
 */
import { Context, Schema } from "effect"

/**
 * A PostgreSQL identifier Eventline will create: lower case, digits and `_`, at most 63 bytes.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Identifier = Schema.String.check(
  Schema.isPattern(/^[a-z_][a-z0-9_]{0,62}$/, { description: "a lower-case SQL identifier (a-z, 0-9, _)" })
)

/**
 * @category schemas
 * @since 0.1.0
 */
export const PgStoreConfigSchema = Schema.Struct({
  schema: Identifier,
  notifyChannel: Identifier,
  /**
   * When appends NOTIFY. "in-transaction" (the default): in the append's own statement, so the
   * notification exists if and only if the events committed. "after-commit": a separate,
   * coalesced NOTIFY once the append (and any transaction around it) committed. PostgreSQL
   * serialises the commits of all NOTIFYing transactions of a server (one lock held through the
   * WAL flush), so "after-commit" roughly doubles append throughput under concurrency; a crash
   * between commit and NOTIFY only delays readers until their next poll.
   */
  notifyMode: Schema.optionalKey(Schema.Literals(["in-transaction", "after-commit"]))
})

/**
 * @category models
 * @since 0.1.0
 */
export type PgStoreConfigShape = typeof PgStoreConfigSchema.Type

/**
 * @category services
 * @since 0.1.0
 */
export class PgStoreConfig extends Context.Reference<PgStoreConfigShape>("@eventline/postgres/PgStoreConfig", {
  defaultValue: () => ({ schema: "eventline", notifyChannel: "eventline_events" })
}) {}
