import { CheckpointStore, DeadLetterStore, DeadlineStore } from "@eventline/core"
import { CheckpointStoreConformance, DeadLetterStoreConformance, DeadlineStoreConformance } from "@eventline/testing"

CheckpointStoreConformance.run("in-memory", CheckpointStore.layerMemory)
DeadLetterStoreConformance.run("in-memory", DeadLetterStore.layerMemory)
DeadlineStoreConformance.run("in-memory", DeadlineStore.layerMemory)
