/**
 * @since 0.1.0
 */

/** @since 0.3.0 */
export * as AvroCodec from "./AvroCodec.ts"
/** @since 0.3.0 */
export * as AvroSchema from "./AvroSchema.ts"
/** @since 0.1.0 */
export * as DeadLetters from "./DeadLetters.ts"
/** @since 0.1.0 */
export * as EnvelopeCodec from "./EnvelopeCodec.ts"
/** @since 0.1.0 */
export * as KafkaClient from "./KafkaClient.ts"
/** @since 0.1.0 */
export * as KafkaConsumer from "./KafkaConsumer.ts"
/** @since 0.1.0 */
export * as KafkaEventBus from "./KafkaEventBus.ts"
/** @since 0.1.0 */
export * as KafkaProducer from "./KafkaProducer.ts"
/** @since 0.2.0 */
export * as KafkaTopics from "./KafkaTopics.ts"
/** @since 0.3.0 */
export * as SchemaRegistry from "./SchemaRegistry.ts"
