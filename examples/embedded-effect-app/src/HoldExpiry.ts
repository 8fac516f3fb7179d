/**
 * A process manager: every requested booking is held for a while. If it is not confirmed when
 * the hold ends (a durable deadline), the booking expires. Pure, like a decider: the runner keeps
 * its state, its deadlines and the commands it sends durable.
 */
import { EventEnvelope, ProcessManager } from "@eventline/core"
import { Duration, Option, Schema } from "effect"
import { Booking, BookingCommand } from "./Booking.ts"

export const HoldInput = Schema.TaggedUnion({
  Requested: { bookingId: Schema.String, requestedAt: EventEnvelope.Timestamp },
  Confirmed: {},
  HoldEnded: {}
})
export type HoldInput = typeof HoldInput.Type

export interface HoldState {
  readonly status: "idle" | "held" | "closed"
  readonly bookingId: string
}

export const make = (hold: Duration.Input) =>
  ProcessManager.make<HoldInput, HoldState, BookingCommand>({
    name: "booking-hold",
    streamTypes: [Booking.streamType],
    inputs: HoldInput,
    // the stored event type is the event's _tag
    correlate: (event) => {
      switch (event.type) {
        case "BookingRequested":
          return Option.some({
            key: event.streamId,
            input: HoldInput.cases.Requested.make({ bookingId: event.streamId, requestedAt: event.metadata.occurredAt })
          })
        case "BookingConfirmed":
          return Option.some({ key: event.streamId, input: HoldInput.cases.Confirmed.make({}) })
        default:
          return Option.none()
      }
    },
    // the booking was confirmed in the meantime: nothing to do
    onRejected: () => Option.none(),
    initialState: { status: "idle", bookingId: "" },
    evolve: (state, input) => {
      switch (input._tag) {
        case "Requested":
          return { status: "held", bookingId: input.bookingId }
        case "Confirmed":
        case "HoldEnded":
          return { ...state, status: "closed" }
      }
    },
    react: (state, input) => {
      switch (input._tag) {
        case "Requested": {
          const at = new Date(Date.parse(input.requestedAt) + Duration.toMillis(Duration.fromInputUnsafe(hold)))
          return {
            commands: [],
            deadlines: [{ id: "hold", at: at.toISOString(), input: HoldInput.cases.HoldEnded.make({}) }]
          }
        }
        case "HoldEnded":
          return state.status === "held"
            ? { commands: [BookingCommand.cases.ExpireBooking.make({ bookingId: state.bookingId })] }
            : ProcessManager.nothing
        case "Confirmed":
          return ProcessManager.nothing
      }
    }
  })
