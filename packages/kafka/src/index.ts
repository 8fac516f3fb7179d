/**
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as DeadLetters from "./DeadLetters.ts"
/** @since 0.1.0 */
export * as EnvelopeCodec from "./EnvelopeCodec.ts"
/** @since 0.1.0 */
export * as EventBus from "./EventBus.ts"
/** @since 0.1.0 */
export * as InProcessBus from "./InProcessBus.ts"
/** @since 0.1.0 */
export * as KafkaClient from "./KafkaClient.ts"
/** @since 0.1.0 */
export * as KafkaConsumer from "./KafkaConsumer.ts"
/** @since 0.1.0 */
export * as KafkaEventBus from "./KafkaEventBus.ts"
/** @since 0.1.0 */
export * as KafkaProducer from "./KafkaProducer.ts"
/** @since 0.1.0 */
export * as ProcessedEvents from "./ProcessedEvents.ts"
/** @since 0.1.0 */
export * as Relay from "./Relay.ts"
