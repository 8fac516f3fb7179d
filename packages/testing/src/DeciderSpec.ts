/**
 * Given/when/then specs for deciders: given these past events, when this command arrives, then
 * these events are decided (or this rejection). Pure: no store, no Effect.
 *
 * ```ts
 * DeciderSpec.forDecider(OrderDecider)
 *   .given([created])
 *   .when(ConfirmOrder.make({ orderId }))
 *   .then([OrderConfirmed.make({ confirmedAt: now })])
 * ```
 *
 * @since 0.1.0
 */
import { deepStrictEqual, fail } from "node:assert/strict"
import { Decider } from "@eventline/core"
import { Result } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface Given<Command, Event, Rejection> {
  readonly when: (command: Command) => When<Event, Rejection>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface When<Event, Rejection> {
  /** Assert the decided events. */
  readonly then: (expected: ReadonlyArray<Event>) => void
  /** Assert a rejection: equal to `expected`, or accepted by it when it is a function. */
  readonly thenRejects: (expected: Rejection | ((rejection: Rejection) => boolean)) => void
  /** The raw decision, for custom assertions. */
  readonly decision: Decider.Decision<Event, Rejection>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Spec<Command, Event, Rejection> {
  readonly given: (events: ReadonlyArray<Event>) => Given<Command, Event, Rejection>
}

/** Own fields plus `_tag` (which classes may keep on the prototype), so classes compare like structs. */
const plain = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(plain)
  if (typeof value !== "object" || value === null) return value
  const tag = "_tag" in value ? { _tag: value._tag } : {}
  return { ...value, ...tag }
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const forDecider = <Command, Event, State, Rejection>(
  decider: Decider.Decider<Command, Event, State, Rejection>,
  context: Decider.DecisionContext = { now: "2026-01-01T00:00:00.000Z" }
): Spec<Command, Event, Rejection> => ({
  given: (events) => ({
    when: (command) => {
      const decision = decider.decide(command, Decider.fold(decider, events), context)
      return {
        decision,
        then: (expected) => {
          if (Result.isFailure(decision)) {
            fail(`expected events, but the command was rejected: ${JSON.stringify(decision.failure)}`)
          }
          deepStrictEqual(plain(decision.success), plain(expected))
        },
        thenRejects: (expected) => {
          if (Result.isSuccess(decision)) {
            fail(`expected a rejection, but the command decided ${JSON.stringify(decision.success)}`)
          }
          if (typeof expected === "function") {
            const accepts = expected as (rejection: Rejection) => boolean
            if (!accepts(decision.failure)) fail(`the rejection ${JSON.stringify(decision.failure)} was not expected`)
          } else {
            deepStrictEqual(plain(decision.failure), plain(expected))
          }
        }
      }
    }
  })
})
