/**
 * A projection into the app's own table: one row per booking. The handler writes through the
 * store's `SqlClient`; the subscription runs it and moves its checkpoint in one transaction (the
 * store's `UnitOfWork`), so every event changes the table exactly once, even after a crash.
 */
import { Aggregate, type EventEnvelope, type Subscription } from "@eventline/core"
import { Migrations, PgStoreConfig } from "@eventline/postgres"
import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Booking } from "./Booking.ts"

/** The table, created by a versioned migration of the app's own (in the store's schema). */
export const migrations = Migrations.layerFor("bookings_app", (schema) => ({
  "0001_bookings": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE ${sql(`${schema}.bookings`)} (
      booking_id text PRIMARY KEY,
      guest text NOT NULL,
      seats int NOT NULL,
      status text NOT NULL,
      events_applied int NOT NULL
    )`
  })
}))

const table = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const { schema } = yield* PgStoreConfig.PgStoreConfig
  return { sql, bookings: sql(`${schema}.bookings`) }
})

// deliberately not idempotent (a plain INSERT, a counter): the transaction makes it exactly once
const apply = (recorded: EventEnvelope.RecordedEvent) =>
  Effect.gen(function* () {
    const { sql, bookings } = yield* table
    const event = yield* Aggregate.decodeEvent(Booking, recorded)
    const id = recorded.streamId
    switch (event._tag) {
      case "BookingRequested":
        yield* sql`INSERT INTO ${bookings} (booking_id, guest, seats, status, events_applied)
          VALUES (${id}, ${event.guest}, ${event.seats}, 'requested', 1)`
        return
      case "BookingConfirmed":
      case "BookingExpired": {
        const status = event._tag === "BookingConfirmed" ? "confirmed" : "expired"
        yield* sql`UPDATE ${bookings} SET status = ${status}, events_applied = events_applied + 1
          WHERE booking_id = ${id}`
        return
      }
    }
  })

export const subscription = {
  name: "bookings-view",
  streamTypes: [Booking.streamType],
  handle: apply
} satisfies Subscription.Options<unknown, SqlClient.SqlClient>

export const BookingRow = Schema.Struct({
  booking_id: Schema.String,
  guest: Schema.String,
  seats: Schema.Int,
  status: Schema.Literals(["requested", "confirmed", "expired"]),
  events_applied: Schema.Int
})
export type BookingRow = typeof BookingRow.Type

/** Every row, decoded at the boundary. */
export const all = Effect.gen(function* () {
  const { sql, bookings } = yield* table
  const rows = yield* sql`SELECT booking_id, guest, seats, status, events_applied FROM ${bookings} ORDER BY booking_id`
  return yield* Schema.decodeUnknownEffect(Schema.Array(BookingRow))(rows)
})
