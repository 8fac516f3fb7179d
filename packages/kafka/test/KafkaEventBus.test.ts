/**
 * The Kafka implementation of the `EventBus` contract, on the real broker.
 */
import { describe } from "@effect/vitest"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { Layer } from "effect"
import { KafkaEventBus } from "../src/index.ts"
import { eventBusContract } from "./EventBusContract.ts"
import { brokers, fastGroup, howToProvideKafka, KafkaTest, scopedTopic } from "./utils.ts"

describe.skipIf(!isAvailable("Kafka", brokers, howToProvideKafka))("KafkaEventBus", () => {
  describe("EventBus contract", () => {
    eventBusContract({
      layer: KafkaEventBus.layer(fastGroup).pipe(Layer.provideMerge(KafkaTest)),
      topic: (prefix) => scopedTopic(prefix, 1)
    })
  })
})
