/**
 * The schema registry the Avro tests run against (scripts/registry, started by the test setup,
 * or SCHEMA_REGISTRY_URL), and the Order events before and after OrderCreated gained a currency.
 */
import { EventEnvelope } from "@eventline/core"
import { OrderCreatedV1, OrderCreatedV2 } from "@eventline/orders/OrderEvent"
import { Layer, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { inject } from "vitest"
import { SchemaRegistry } from "../src/index.ts"

/** The registry's Confluent API URL; throws with what to do when there is none. */
export const registryUrl = (): string => {
  const url = inject("schemaRegistryUrl") ?? process.env.SCHEMA_REGISTRY_URL
  if (url === undefined || url === "") {
    throw new Error("no schema registry: set SCHEMA_REGISTRY_URL or run bash scripts/registry/start.sh")
  }
  return url
}

export const RegistryTest = SchemaRegistry.layer({ url: registryUrl() }).pipe(Layer.provide(FetchHttpClient.layer))

/** The Order events with OrderCreated at version 1 (no currency). */
export const orderEventsV1 = Schema.TaggedUnion({
  OrderCreated: OrderCreatedV1.fields,
  OrderConfirmed: { confirmedAt: EventEnvelope.Timestamp },
  OrderCancelled: { reason: Schema.String, cancelledAt: EventEnvelope.Timestamp }
})

/** The Order events with OrderCreated at version 2, its currency defaulting to EUR. */
export const orderEventsV2WithDefault = Schema.TaggedUnion({
  OrderCreated: OrderCreatedV2.fields,
  OrderConfirmed: { confirmedAt: EventEnvelope.Timestamp },
  OrderCancelled: { reason: Schema.String, cancelledAt: EventEnvelope.Timestamp }
})
