/**
 * The Inventory aggregate: the decider together with what it takes to store it. Its streams have
 * the type `Inventory` and are named by the product id.
 *
 * @since 0.2.0
 */
import { Aggregate } from "@eventline/core"
import { InventoryCommand } from "./InventoryCommand.ts"
import { InventoryDecider, InventoryState } from "./InventoryDecider.ts"
import { InventoryEvent } from "./InventoryEvent.ts"

/**
 * The stream type of products' stock.
 *
 * @category constants
 * @since 0.2.0
 */
export const streamType = "Inventory"

/**
 * @category aggregates
 * @since 0.1.0
 */
export const InventoryAggregate = Aggregate.make({
  streamType,
  decider: InventoryDecider,
  commands: InventoryCommand,
  events: InventoryEvent,
  schemaVersion: 1,
  streamId: (command) => command.productId,
  // a product's stream grows with every order: load it from a snapshot
  snapshot: { state: InventoryState, schemaVersion: 1, every: 100 }
})
