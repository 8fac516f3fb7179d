/**
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as CustomerStatistics from "./CustomerStatistics.ts"
/** @since 0.1.0 */
export * as FulfilmentSaga from "./FulfilmentSaga.ts"
/** @since 0.1.0 */
export * as Inventory from "./Inventory.ts"
/** @since 0.1.0 */
export * as OrderAggregate from "./OrderAggregate.ts"
/** @since 0.1.0 */
export * as OrderCommand from "./OrderCommand.ts"
/** @since 0.1.0 */
export * as OrderDecider from "./OrderDecider.ts"
/** @since 0.1.0 */
export * as OrderEvent from "./OrderEvent.ts"
/** @since 0.1.0 */
export * as OrderReadModel from "./OrderReadModel.ts"
