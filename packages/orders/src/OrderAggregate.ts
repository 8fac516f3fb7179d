/**
 * The Order aggregate: the decider together with what it takes to store it. Its streams have
 * the type `Order` and are named by the order id.
 *
 * ```ts
 * const OrdersLive = CommandBus.layer([CommandBus.fromAggregate(OrderAggregate)]).pipe(
 *   Layer.provide(InMemoryEventStore.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Aggregate } from "@eventline/core"
import { OrderCommand } from "./OrderCommand.ts"
import { OrderDecider } from "./OrderDecider.ts"
import { OrderEvent } from "./OrderEvent.ts"

/**
 * The stream type of orders.
 *
 * @category constants
 * @since 0.1.0
 */
export const streamType = "Order"

/**
 * @category aggregates
 * @since 0.1.0
 */
export const OrderAggregate = Aggregate.make({
  streamType,
  decider: OrderDecider,
  commands: OrderCommand,
  events: OrderEvent,
  schemaVersion: 1,
  streamId: (command) => command.orderId,
  // placing an order is one append without a read (an existing order id is still read and refused)
  startsStream: (command) => command._tag === "CreateOrder"
})
