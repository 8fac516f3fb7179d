/**
 * The Kafka implementation of the `EventBus` contract, on the real broker.
 */
import { describe } from "@effect/vitest"
import { EventBusConformance } from "@eventline/testing"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { Layer } from "effect"
import { KafkaEventBus } from "../src/index.ts"
import { brokers, fastGroup, howToProvideKafka, KafkaTest, scopedTopic } from "./utils.ts"

describe.skipIf(!isAvailable("Kafka", brokers, howToProvideKafka))("KafkaEventBus", () => {
  EventBusConformance.run("Kafka", KafkaEventBus.layer(fastGroup).pipe(Layer.provideMerge(KafkaTest)), {
    topic: (prefix) => scopedTopic(prefix, 1)
  })
})
