/**
 * The in-memory inbox against the `ProcessedEvents` conformance suite.
 */
import { ProcessedEvents } from "@eventline/core"
import { ProcessedEventsConformance } from "@eventline/testing"

ProcessedEventsConformance.run("in-memory", ProcessedEvents.layerMemory)
