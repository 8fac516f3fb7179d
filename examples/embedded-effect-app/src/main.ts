/**
 * Eventline embedded in an Effect program. The store is one layer chosen by configuration:
 * PGlite in this process (in memory) by default, PostgreSQL when DATABASE_URL is set. Nothing
 * else changes between the two.
 *
 * It is also a check: it exits non-zero when what it observes is not what it expects.
 */
import { NodeRuntime } from "@effect/platform-node"
import { CommandBus, ProcessManagerRunner, Subscription } from "@eventline/core"
import { PgStore } from "@eventline/postgres"
import { Config, Console, Effect, Layer, Option, Schedule, Schema } from "effect"
import { Booking, BookingCommand } from "./Booking.ts"
import * as BookingsView from "./BookingsView.ts"
import * as HoldExpiry from "./HoldExpiry.ts"

// the store: PostgreSQL when DATABASE_URL is set, else PGlite (in EVENTLINE_DATA_DIR, or in memory)
const Store = PgStore.layerFromConfig()

// the app: a command bus over the aggregate, the app's own table, over the store
const App = Layer.mergeAll(CommandBus.layer([CommandBus.fromAggregate(Booking)]), BookingsView.migrations).pipe(
  Layer.provideMerge(Store)
)

class ExpectationFailed extends Schema.TaggedError<ExpectationFailed>()("ExpectationFailed", {
  message: Schema.String
}) {}

const expect = (condition: boolean, message: string) =>
  condition ? Console.log(`  ok: ${message}`) : Effect.fail(new ExpectationFailed({ message }))

const program = Effect.gen(function* () {
  const database = Option.isSome(yield* Config.option(Config.String("DATABASE_URL")))
    ? "PostgreSQL"
    : "PGlite (in memory)"
  yield* Console.log(`store: ${database}`)
  const bus = yield* CommandBus.CommandBus
  // both run until the program's scope closes (a short hold, so that the example sees one end)
  const view = yield* Subscription.start(BookingsView.subscription)
  const hold = yield* ProcessManagerRunner.start(HoldExpiry.make("300 millis"), { deadlinePollInterval: "50 millis" })

  yield* bus.dispatch(BookingCommand.cases.RequestBooking.make({ bookingId: "b-1", guest: "Ada", seats: 2 }))
  yield* bus.dispatch(BookingCommand.cases.RequestBooking.make({ bookingId: "b-2", guest: "Grace", seats: 4 }))
  const confirmed = yield* bus.dispatch(BookingCommand.cases.ConfirmBooking.make({ bookingId: "b-1" }))
  yield* Console.log(`requested b-1 and b-2, confirmed b-1 (b-1 is at version ${confirmed.version})`)

  // a domain rule's refusal is a typed error, and nothing was written
  const refused = yield* Effect.flip(bus.dispatch(BookingCommand.cases.ConfirmBooking.make({ bookingId: "b-3" })))
  yield* expect(refused._tag === "DecisionRejected", `confirming an unknown booking is refused (${refused.message})`)
  const invalid = yield* Effect.flip(bus.dispatchUnknown({ _tag: "RequestBooking", bookingId: "b-4", guest: "Eve" }))
  yield* expect(invalid._tag === "InvalidCommand", "a command that fails its schema never reaches the decider")

  // b-2 was not confirmed: its hold ends and the process manager expires it
  yield* Console.log("waiting for the hold of b-2 to end ...")
  const rows = yield* BookingsView.all.pipe(
    Effect.repeat({
      schedule: Schedule.spaced("50 millis"),
      until: (rows) => rows.find((row) => row.booking_id === "b-2")?.status === "expired"
    }),
    Effect.timeout("20 seconds")
  )
  yield* view.caughtUp
  for (const row of rows) yield* Console.log(`  ${row.booking_id} ${row.guest} (${row.seats}): ${row.status}`)
  yield* expect(
    rows.map((row) => `${row.booking_id}:${row.status}`).join(",") === "b-1:confirmed,b-2:expired",
    "the projection holds b-1 confirmed and b-2 expired"
  )
  yield* expect(
    rows.every((row) => row.events_applied === 2),
    "every event was applied to the table exactly once"
  )
  const held = yield* hold.state("b-2")
  yield* expect(held.status === "closed", "the process manager closed the hold of b-2")
  const lag = yield* view.lag
  yield* expect(lag.events === 0, "the projection has no lag")
}).pipe(Effect.scoped)

program.pipe(
  Effect.tap(() => Console.log("done")),
  Effect.provide(App),
  NodeRuntime.runMain
)
