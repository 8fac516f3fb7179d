import { InMemoryStore } from "@eventline/core"
import { SubscriptionConformance } from "@eventline/testing"

SubscriptionConformance.run("in-memory", InMemoryStore.layer)
