import { describe } from "@effect/vitest"
import { EventStoreConformance, TestEnvironment } from "@eventline/testing"
import { Layer } from "effect"
import { inject } from "vitest"
import { PgEventStore } from "../src/index.ts"
import { freshDatabase } from "./utils.ts"

const databaseUrl = inject("databaseUrl")

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL to a server you may create databases on"))(
  "PgEventStore on PostgreSQL",
  () => {
    EventStoreConformance.run(
      "PostgreSQL",
      PgEventStore.layer.pipe(Layer.provide(freshDatabase(databaseUrl ?? "")))
    )
  }
)
