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
  notifyChannel: Identifier
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
