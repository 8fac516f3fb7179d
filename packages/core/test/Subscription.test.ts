import { assert, it } from "@effect/vitest"
import { InMemoryStore, Subscription } from "@eventline/core"
import { SubscriptionConformance } from "@eventline/testing"
import { Cause, Duration, Effect, Exit } from "effect"

SubscriptionConformance.run("in-memory", InMemoryStore.layer)

it.effect("a subscription that would never poll is refused: lost wake-ups must be bounded by the poll", () =>
  Effect.gen(function* () {
    const exit = yield* Subscription.start({
      name: "never-polls",
      pollInterval: Duration.infinity,
      handle: () => Effect.void
    }).pipe(Effect.scoped, Effect.provide(InMemoryStore.layer), Effect.exit)
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "pollInterval must be finite")
  })
)
