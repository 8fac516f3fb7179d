/**
 * Topics for the store-to-bus relay on Kafka: create the `<streamType>-events` topics before the
 * relay publishes to them (with the partitions and replication the deployment wants).
 *
 * @since 0.2.0
 */
import { Relay } from "@eventline/core"
import type { Effect } from "effect"
import type { KafkaClient, KafkaError } from "./KafkaClient.ts"
import { ensureTopics, type TopicSpec } from "./KafkaProducer.ts"

/**
 * Create the relay topics of these stream types if they do not exist.
 *
 * @category topics
 * @since 0.2.0
 */
export const provisionRelayTopics = (
  streamTypes: ReadonlyArray<string>,
  spec: Omit<TopicSpec, "topic"> & { readonly topicOf?: ((streamType: string) => string) | undefined } = {}
): Effect.Effect<void, KafkaError, KafkaClient> => {
  const { topicOf = Relay.defaultTopicOf, ...rest } = spec
  return ensureTopics(streamTypes.map((streamType) => ({ ...rest, topic: topicOf(streamType) })))
}
