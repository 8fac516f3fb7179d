/**
 * The Inventory aggregate: the decider together with what it takes to store it. Its streams have
 * the type `Inventory` and are named `Inventory-<productId>` (its category, then the id).
 *
 * @since 0.2.0
 */
import { Aggregate, StreamName } from "@eventline/core"
import type { Option } from "effect"
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
 * The category of its streams: a product's stock with the id `x` is the stream `Inventory-x` (`StreamName`),
 * whatever `x` is, so no id a client picks names another aggregate's or the saga's stream.
 *
 * @category constants
 * @since 0.3.0
 */
export const category = "Inventory"

/**
 * The stream of a product's stock: `Inventory-<productId>`.
 *
 * @category streams
 * @since 0.3.0
 */
export const streamIdOf = (productId: string): string => StreamName.make(category, productId)

/**
 * The productId of one of these streams; none for a stream of another category.
 *
 * @category streams
 * @since 0.3.0
 */
export const productIdOf = (streamId: string): Option.Option<string> => StreamName.idOf(category, streamId)

/**
 * @category aggregates
 * @since 0.1.0
 */
export const InventoryAggregate = Aggregate.make({
  streamType,
  category,
  decider: InventoryDecider,
  commands: InventoryCommand,
  events: InventoryEvent,
  schemaVersion: 1,
  streamId: (command) => command.productId,
  // a product's stream grows with every order: load it from a snapshot
  snapshot: { state: InventoryState, schemaVersion: 1, every: 100 }
})
