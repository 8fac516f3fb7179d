/**
 * The Order aggregate: the decider together with what it takes to store it. Its streams have
 * the type `Order` and are named `Order-<orderId>` (its category, then the id).
 *
 * ```ts
 * const OrdersLive = CommandBus.layer([CommandBus.fromAggregate(OrderAggregate)]).pipe(
 *   Layer.provide(InMemoryEventStore.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Aggregate, StreamName } from "@eventline/core"
import type { Option } from "effect"
import { OrderCommand } from "./OrderCommand.ts"
import { OrderDecider } from "./OrderDecider.ts"
import { OrderEvent, upcasters } from "./OrderEvent.ts"

/**
 * The stream type of orders.
 *
 * @category constants
 * @since 0.1.0
 */
export const streamType = "Order"

/**
 * The category of its streams: an order with the id `x` is the stream `Order-x` (`StreamName`),
 * whatever `x` is, so no id a client picks names another aggregate's or the saga's stream.
 *
 * @category constants
 * @since 0.3.0
 */
export const category = "Order"

/**
 * The stream of an order: `Order-<orderId>`.
 *
 * @category streams
 * @since 0.3.0
 */
export const streamIdOf = (orderId: string): string => StreamName.make(category, orderId)

/**
 * The orderId of one of these streams; none for a stream of another category.
 *
 * @category streams
 * @since 0.3.0
 */
export const orderIdOf = (streamId: string): Option.Option<string> => StreamName.idOf(category, streamId)

/**
 * @category aggregates
 * @since 0.1.0
 */
export const OrderAggregate = Aggregate.make({
  streamType,
  category,
  decider: OrderDecider,
  commands: OrderCommand,
  events: OrderEvent,
  schemaVersion: 1,
  // OrderCreated is at version 2: rows of version 1 are upcast when read (OrderEvent.upcasters)
  upcasters,
  streamId: (command) => command.orderId,
  // placing an order is one append without a read (an existing order id is still read and refused)
  startsStream: (command) => command._tag === "CreateOrder"
})
