/**
 * Where Eventline keeps its tables and how it announces commits: the schema (default
 * `eventline`), the NOTIFY channel (default `eventline_events`) and when appends NOTIFY
 * (default "after-commit").
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
   * When appends NOTIFY. "after-commit" (the default): a separate NOTIFY once the append (and
   * any transaction around it) committed, coalesced to the latest position per stream type and
   * sent by one fiber. "in-transaction": in the append's own statement, so the notification
   * exists if and only if the events committed. PostgreSQL serialises the commits of all
   * NOTIFYing transactions of a server (one lock held through the WAL flush), so "after-commit"
   * roughly doubles append throughput under concurrency.
   *
   * Notifications are only wake-ups: a NOTIFY lost after the commit (a crash, a dropped
   * connection, a failed `pg_notify`) delays a reader to its next poll, never loses an event.
   * That delay is bounded by the reader's poll interval: `Subscription.start`'s `pollInterval`
   * (default 1 second; keep it finite), the same for process managers and the HTTP event tail.
   * "none": no NOTIFY at all, for the embedded store (PGlite has no other session to wake; its
   * wake-ups are the in-process `CommitSignal`), which `PgStore.layerEmbedded` chooses.
   */
  notifyMode: Schema.optionalKey(Schema.Literals(["in-transaction", "after-commit", "none"]))
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
