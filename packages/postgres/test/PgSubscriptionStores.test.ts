import { describe } from "@effect/vitest"
import {
  CheckpointStoreConformance,
  DeadLetterStoreConformance,
  DeadlineStoreConformance,
  TestEnvironment
} from "@eventline/testing"
import { Layer } from "effect"
import { inject } from "vitest"
import { PgStore, PgSubscriptionStores } from "../src/index.ts"
import { freshDatabase } from "./utils.ts"

const databaseUrl = inject("databaseUrl")
const available = TestEnvironment.isAvailable(
  "PostgreSQL",
  databaseUrl,
  "set DATABASE_URL to a server you may create databases on"
)

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
