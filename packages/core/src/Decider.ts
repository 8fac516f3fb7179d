/**
 * The pure heart of an aggregate: `decide` turns a command and the current state into events
 * (or a typed rejection), `evolve` folds one event into the state. No Effect is needed to write
 * one, and both must be pure: replaying the same events always gives the same state.
 *
 * @since 0.1.0
 */
import { Result } from "effect"

/**
 * What a decision may read besides the command and the state. Time is an input, so a decider
 * stays pure and a test can fix it.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecisionContext {
  /** The current time, ISO-8601 UTC. */
  readonly now: string
}

/**
 * The events a command produces, or why it was refused.
 *
 * @category models
 * @since 0.1.0
 */
export type Decision<Event, Rejection> = Result.Result<ReadonlyArray<Event>, Rejection>

/**
 * @category models
 * @since 0.1.0
 */
export interface Decider<in Command, in out Event, in out State, out Rejection = never> {
  readonly initialState: State
  readonly decide: (command: Command, state: State, context: DecisionContext) => Decision<Event, Rejection>
  readonly evolve: (state: State, event: Event) => State
}

/**
 * Accept a command with these events (none is a valid, idempotent outcome).
 *
 * @category constructors
 * @since 0.1.0
 */
export const accept = <const Events extends ReadonlyArray<unknown>>(
  ...events: Events
): Decision<Events[number], never> => Result.succeed(events)

/**
 * Refuse a command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const reject = <Rejection>(rejection: Rejection): Decision<never, Rejection> => Result.fail(rejection)

/**
 * Fold events onto a state (the initial state by default).
 *
 * @category folding
 * @since 0.1.0
 */
export const fold = <Command, Event, State, Rejection>(
  decider: Decider<Command, Event, State, Rejection>,
  events: Iterable<Event>,
  state: State = decider.initialState
): State => {
  let current = state
  for (const event of events) current = decider.evolve(current, event)
  return current
}
