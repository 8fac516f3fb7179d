/**
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Api from "./Api.ts"
/** @since 0.1.0 */
export * as CustomerStatistics from "./CustomerStatistics.ts"
/** @since 0.1.0 */
export * as FulfilmentSaga from "./FulfilmentSaga.ts"
/** @since 0.2.0 */
export * as Ids from "./Ids.ts"
/** @since 0.2.0 */
export * as InventoryAggregate from "./InventoryAggregate.ts"
/** @since 0.2.0 */
export * as InventoryApi from "./InventoryApi.ts"
/** @since 0.2.0 */
export * as InventoryCommand from "./InventoryCommand.ts"
/** @since 0.2.0 */
export * as InventoryDecider from "./InventoryDecider.ts"
/** @since 0.2.0 */
export * as InventoryEvent from "./InventoryEvent.ts"
/** @since 0.2.0 */
export * as Layers from "./Layers.ts"
/** @since 0.1.0 */
export * as OrderAggregate from "./OrderAggregate.ts"
/** @since 0.1.0 */
export * as OrderCommand from "./OrderCommand.ts"
/** @since 0.1.0 */
export * as OrderDecider from "./OrderDecider.ts"
/** @since 0.1.0 */
export * as OrderEvent from "./OrderEvent.ts"
/** @since 0.2.0 */
export * as OrderMigrations from "./OrderMigrations.ts"
/** @since 0.1.0 */
export * as OrderReadModel from "./OrderReadModel.ts"
/** @since 0.2.0 */
export * as OrdersApi from "./OrdersApi.ts"
