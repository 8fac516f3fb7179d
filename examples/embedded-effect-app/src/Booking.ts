/**
 * The domain: a table booking. A guest requests a booking, the restaurant confirms it, and a
 * booking nobody confirmed in time expires. Pure: Eventline stores it.
 */
import { Aggregate, Decider } from "@eventline/core"
import { Schema } from "effect"

export const BookingCommand = Schema.TaggedUnion({
  RequestBooking: {
    bookingId: Schema.String,
    guest: Schema.String,
    seats: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 12 }))
  },
  ConfirmBooking: { bookingId: Schema.String },
  ExpireBooking: { bookingId: Schema.String }
})
export type BookingCommand = typeof BookingCommand.Type

export const BookingEvent = Schema.TaggedUnion({
  BookingRequested: { guest: Schema.String, seats: Schema.Int },
  BookingConfirmed: {},
  BookingExpired: {}
})
export type BookingEvent = typeof BookingEvent.Type

export type BookingStatus = "none" | "requested" | "confirmed" | "expired"

export class BookingRejected extends Schema.TaggedError<BookingRejected>()("BookingRejected", {
  bookingId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `booking '${this.bookingId}': ${this.reason}`
  }
}

const decide = (command: BookingCommand, status: BookingStatus): Decider.Decision<BookingEvent, BookingRejected> => {
  const reject = (reason: string) => Decider.reject(new BookingRejected({ bookingId: command.bookingId, reason }))
  switch (command._tag) {
    case "RequestBooking":
      return status === "none"
        ? Decider.accept(BookingEvent.cases.BookingRequested.make({ guest: command.guest, seats: command.seats }))
        : reject("already requested")
    case "ConfirmBooking":
      return status === "requested"
        ? Decider.accept(BookingEvent.cases.BookingConfirmed.make({}))
        : reject(`is ${status}`)
    case "ExpireBooking":
      return status === "requested"
        ? Decider.accept(BookingEvent.cases.BookingExpired.make({}))
        : reject(`is ${status}`)
  }
}

const evolve = (_status: BookingStatus, event: BookingEvent): BookingStatus => {
  switch (event._tag) {
    case "BookingRequested":
      return "requested"
    case "BookingConfirmed":
      return "confirmed"
    case "BookingExpired":
      return "expired"
  }
}

export const Booking = Aggregate.make({
  streamType: "Booking",
  decider: { initialState: "none" as BookingStatus, decide, evolve },
  commands: BookingCommand,
  events: BookingEvent,
  schemaVersion: 1,
  streamId: (command) => command.bookingId
})
