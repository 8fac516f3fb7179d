import { describe } from "@effect/vitest"
import { CheckpointStoreConformance, DeadLetterStoreConformance, DeadlineStoreConformance } from "@eventline/testing"
import { Layer } from "effect"
import { PgStore, PgSubscriptionStores } from "../src/index.ts"
import { databaseUrl, freshDatabase, postgresAvailable } from "./utils.ts"

const available = postgresAvailable()

// each suite builds its own store (PGlite, or a fresh PostgreSQL database) for its tests, which use names of their own
const embedded = PgStore.layerEmbedded()
CheckpointStoreConformance.run("PGlite (embedded)", embedded)
DeadLetterStoreConformance.run("PGlite (embedded)", embedded)
DeadlineStoreConformance.run("PGlite (embedded)", embedded)

describe.skipIf(!available)("the subscription ports on PostgreSQL", () => {
  const database = freshDatabase(databaseUrl ?? "")
  const stores = PgSubscriptionStores.layer.pipe(Layer.provide(database))
  CheckpointStoreConformance.run("PostgreSQL", stores)
  DeadLetterStoreConformance.run("PostgreSQL", stores)
  DeadlineStoreConformance.run("PostgreSQL", stores)
})
