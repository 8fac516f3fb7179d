import { IdempotencyStore } from "@eventline/core"
import { IdempotencyStoreConformance } from "@eventline/testing"

IdempotencyStoreConformance.run("in-memory", IdempotencyStore.layerMemory)
