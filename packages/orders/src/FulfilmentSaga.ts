/**
 * The fulfilment process: when an order is confirmed, reserve stock for every item; if any
 * reservation is refused, release what was reserved and cancel the order ("out of stock"). An
 * order still pending when its deadline passes (default 15 minutes after it was placed) is
 * cancelled ("expired"). Once every item is reserved the reservations are committed (the stock is
 * sold and the order leaves the products' state). An order cancelled after stock was reserved for
 * it gives the stock back: released while reserving, returned once committed.
 *
 * Pure: the runner (`ProcessManagerRunner`) makes it durable. One instance per order, keyed by the
 * order id, its inputs in the stream `Fulfilment-<orderId>`.
 *
 * @since 0.1.0
 */
import { Aggregate, EventEnvelope as Envelope, type EventEnvelope, ProcessManager } from "@eventline/core"
import { Duration, Option, Result, Schema } from "effect"
import { RecordedId } from "./Ids.ts"
import * as InventoryAggregate from "./InventoryAggregate.ts"
import { InventoryCommand } from "./InventoryCommand.ts"
import * as OrderAggregate from "./OrderAggregate.ts"
import { OrderCommand } from "./OrderCommand.ts"

// inputs come from history: its ids follow the rule they were written under
const Line = Schema.Struct({ productId: RecordedId, quantity: Schema.Int })

/**
 * @category inputs
 * @since 0.1.0
 */
export const FulfilmentInput = Schema.TaggedUnion({
  OrderPlaced: { orderId: RecordedId, lines: Schema.Array(Line), placedAt: Envelope.Timestamp },
  OrderConfirmed: {},
  OrderCancelled: {},
  StockReserved: { productId: RecordedId },
  ReservationRejected: { productId: RecordedId },
  OrderExpired: {}
})

/**
 * @category inputs
 * @since 0.1.0
 */
export type FulfilmentInput = typeof FulfilmentInput.Type

/**
 * @category state
 * @since 0.1.0
 */
export interface FulfilmentState {
  readonly status: "New" | "Pending" | "Reserving" | "Reserved" | "CancellingOutOfStock" | "Closed"
  readonly orderId: string
  readonly lines: ReadonlyArray<typeof Line.Type>
  readonly reserved: ReadonlyArray<string>
  readonly rejected: ReadonlyArray<string>
}

/**
 * @category state
 * @since 0.1.0
 */
export const initialState: FulfilmentState = { status: "New", orderId: "", lines: [], reserved: [], rejected: [] }

type Command = OrderCommand | InventoryCommand

const resolved = (state: FulfilmentState) => state.reserved.length + state.rejected.length === state.lines.length

/** Lines of the same product are reserved together: one reservation per product and order. */
const linesOf = (items: ReadonlyArray<{ readonly productId: string; readonly quantity: number }>) => {
  const byProduct = new Map<string, number>()
  for (const item of items) byProduct.set(item.productId, (byProduct.get(item.productId) ?? 0) + item.quantity)
  return [...byProduct].map(([productId, quantity]) => ({ productId, quantity }))
}

const evolve = (state: FulfilmentState, input: FulfilmentInput): FulfilmentState => {
  switch (input._tag) {
    case "OrderPlaced":
      return { ...state, status: "Pending", orderId: input.orderId, lines: input.lines }
    case "OrderConfirmed":
      return state.status === "Pending" ? { ...state, status: "Reserving" } : state
    case "StockReserved":
    case "ReservationRejected": {
      const next =
        input._tag === "StockReserved"
          ? { ...state, reserved: [...state.reserved, input.productId] }
          : { ...state, rejected: [...state.rejected, input.productId] }
      if (state.status !== "Reserving" || !resolved(next)) return next
      return { ...next, status: next.rejected.length > 0 ? "CancellingOutOfStock" : "Reserved" }
    }
    case "OrderCancelled":
    case "OrderExpired":
      return input._tag === "OrderExpired" && state.status !== "Pending" ? state : { ...state, status: "Closed" }
  }
}

const release = (state: FulfilmentState): ReadonlyArray<Command> =>
  state.reserved.map((productId) => InventoryCommand.cases.Release.make({ productId, orderId: state.orderId }))

// the last reservation is in: final, so that a product's state holds only the orders in flight
const commit = (state: FulfilmentState): ReadonlyArray<Command> =>
  state.reserved.map((productId) =>
    InventoryCommand.cases.CommitReservation.make({ productId, orderId: state.orderId })
  )

// stock of a committed order, by the quantity it reserved (also right for an older instance that
// never committed: Inventory then releases the reservation instead)
const giveBack = (state: FulfilmentState): ReadonlyArray<Command> =>
  state.lines
    .filter((line) => state.reserved.includes(line.productId))
    .map((line) =>
      InventoryCommand.cases.ReturnStock.make({
        productId: line.productId,
        orderId: state.orderId,
        quantity: line.quantity
      })
    )

const react = (expireAfter: Duration.Duration) => (state: FulfilmentState, input: FulfilmentInput) => {
  const next = evolve(state, input)
  switch (input._tag) {
    case "OrderPlaced":
      return {
        commands: [],
        deadlines: [
          {
            id: "expire",
            at: new Date(Date.parse(input.placedAt) + Duration.toMillis(expireAfter)).toISOString(),
            input: FulfilmentInput.cases.OrderExpired.make({})
          }
        ]
      }
    case "OrderConfirmed":
      return state.status !== "Pending"
        ? ProcessManager.nothing
        : {
            commands: state.lines.map((line) =>
              InventoryCommand.cases.Reserve.make({
                productId: line.productId,
                orderId: state.orderId,
                quantity: line.quantity
              })
            )
          }
    case "StockReserved":
    case "ReservationRejected":
      // the last answer is in and one was a refusal: give back what we hold, cancel the order
      return state.status === "Reserving" && next.status === "CancellingOutOfStock"
        ? {
            commands: [
              ...release(next),
              OrderCommand.cases.CancelOrder.make({ orderId: next.orderId, reason: "out of stock" })
            ]
          }
        : // a reservation that arrives after the order was closed goes straight back
          state.status === "Closed" && input._tag === "StockReserved"
          ? { commands: release({ ...state, reserved: [input.productId] }) }
          : state.status === "Reserving" && next.status === "Reserved"
            ? { commands: commit(next) }
            : ProcessManager.nothing
    case "OrderExpired":
      return state.status === "Pending"
        ? { commands: [OrderCommand.cases.CancelOrder.make({ orderId: state.orderId, reason: "expired" })] }
        : ProcessManager.nothing
    case "OrderCancelled":
      // cancelled by someone else after stock was reserved: compensate
      return state.status === "CancellingOutOfStock" || state.status === "Closed"
        ? ProcessManager.nothing
        : { commands: state.status === "Reserved" ? giveBack(state) : release(state) }
  }
}

/** Decoded as the aggregates decode them: an older version of an event is upcast first. */
const decodeOrderEvent = (event: EventEnvelope.RecordedEvent) =>
  Result.getSuccess(Aggregate.decodeEventResult(OrderAggregate.OrderAggregate, event))
const decodeInventoryEvent = (event: EventEnvelope.RecordedEvent) =>
  Result.getSuccess(Aggregate.decodeEventResult(InventoryAggregate.InventoryAggregate, event))

type Correlated = Option.Option<{ readonly key: string; readonly input: FulfilmentInput }>

/**
 * The instance of an event: the order's id, read from the order's stream id (`Order-<orderId>`)
 * or from a reservation's `orderId`; the product from the Inventory stream id. Events of streams
 * outside those categories are none of the saga's business.
 */
const correlate = (event: EventEnvelope.RecordedEvent): Correlated => {
  if (event.streamType === OrderAggregate.streamType) {
    const orderId = OrderAggregate.orderIdOf(event.streamId)
    if (Option.isNone(orderId)) return Option.none()
    const key = orderId.value
    return Option.flatMap(decodeOrderEvent(event), (decoded): Correlated => {
      switch (decoded._tag) {
        case "OrderCreated":
          return Option.some({
            key,
            input: FulfilmentInput.cases.OrderPlaced.make({
              orderId: key,
              lines: linesOf(decoded.items),
              placedAt: event.metadata.occurredAt
            })
          })
        case "OrderConfirmed":
          return Option.some({ key, input: FulfilmentInput.cases.OrderConfirmed.make({}) })
        case "OrderCancelled":
          return Option.some({ key, input: FulfilmentInput.cases.OrderCancelled.make({}) })
      }
    })
  }
  if (event.streamType !== InventoryAggregate.streamType) return Option.none()
  const productId = InventoryAggregate.productIdOf(event.streamId)
  if (Option.isNone(productId)) return Option.none()
  return Option.flatMap(
    decodeInventoryEvent(event),
    (decoded): Correlated =>
      decoded._tag === "StockReserved"
        ? Option.some({
            key: decoded.orderId,
            input: FulfilmentInput.cases.StockReserved.make({ productId: productId.value })
          })
        : Option.none()
  )
}

/**
 * @category models
 * @since 0.1.0
 */
export interface FulfilmentOptions {
  /** How long an order may stay pending before it is cancelled as expired. Default: 15 minutes. */
  readonly expireAfter?: Duration.Input | undefined
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: FulfilmentOptions) =>
  ProcessManager.make<FulfilmentInput, FulfilmentState, Command>({
    name: "Fulfilment",
    // an instance's stream is `Fulfilment-<orderId>`: no client id can name it, since the
    // aggregates' streams are `Order-...` and `Inventory-...`
    category: "Fulfilment",
    streamTypes: [OrderAggregate.streamType, InventoryAggregate.streamType],
    inputs: FulfilmentInput,
    correlate,
    onRejected: (command) =>
      command._tag === "Reserve"
        ? Option.some(FulfilmentInput.cases.ReservationRejected.make({ productId: command.productId }))
        : Option.none(),
    initialState,
    evolve,
    react: react(Duration.fromInputUnsafe(options?.expireAfter ?? "15 minutes"))
  })
