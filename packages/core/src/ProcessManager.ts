/**
 * Process managers (sagas): pure coordination between aggregates. A process manager follows
 * events, keyed by a correlation id (one instance per key); for each input it folds its own state
 * (`evolve`) and says what to do next (`react`): commands to send, and deadlines to set. Inputs
 * are the events it follows, the deadlines it set (when they come due) and the rejections of the
 * commands it sent, so compensation is just another reaction.
 *
 * Like a decider, it is pure: the runner (`ProcessManagerRunner`) keeps its
 * state durable, derives command ids from the input that caused them (a redelivery never doubles
 * an effect) and stores deadlines so they survive restarts.
 *
 * @since 0.1.0
 */
import { type Option, Schema } from "effect"
import type { Tagged } from "./Aggregate.ts"
import type { RecordedEvent } from "./EventEnvelope.ts"
import * as StreamName from "./StreamName.ts"

/**
 * A deadline: at `at` (ISO-8601 UTC), `input` is fed back to the same instance. Its id makes it
 * unique within the instance; setting the same id again does not add a second one.
 *
 * @category models
 * @since 0.1.0
 */
export interface Deadline<Input> {
  readonly id: string
  readonly at: string
  readonly input: Input
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Reaction<Input, Command> {
  readonly commands: ReadonlyArray<Command>
  readonly deadlines?: ReadonlyArray<Deadline<Input>> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ProcessManager<Input extends Tagged, State, Command extends Tagged> {
  readonly name: string
  /**
   * The category of its instances' streams (`StreamName`): an instance's inputs are stored in
   * `<category>-<key>`. Default: the name. Give the aggregates it follows categories of their
   * own, so that no id a client chooses can name one of these streams.
   *
   * @since 0.3.0
   */
  readonly category?: string | undefined
  /** The stream types whose events it follows. */
  readonly streamTypes: ReadonlyArray<string>
  /** Inputs are stored with the instance: encoded to JSON and back. */
  readonly inputs: Schema.Codec<Input, unknown>
  /** The instance an event belongs to, and what it means to it; none to ignore the event. */
  readonly correlate: (event: RecordedEvent) => Option.Option<{ readonly key: string; readonly input: Input }>
  /** What a rejected command means to the instance that sent it; none to ignore it. */
  readonly onRejected: (command: Command, rejection: unknown) => Option.Option<Input>
  readonly initialState: State
  readonly evolve: (state: State, input: Input) => State
  readonly react: (state: State, input: Input) => Reaction<Input, Command>
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = <Input extends Tagged, State, Command extends Tagged>(
  processManager: ProcessManager<Input, State, Command>
): ProcessManager<Input, State, Command> => {
  if (processManager.category !== undefined && !Schema.is(StreamName.Category)(processManager.category)) {
    throw new Error(
      `process manager '${processManager.name}': the category '${processManager.category}' must be 1 to 50 letters, digits or '_', starting with a letter (no '-')`
    )
  }
  return processManager
}

/**
 * The stream of an instance: `<category>-<key>` (the category defaults to the name).
 *
 * @category streams
 * @since 0.3.0
 */
export const streamIdOf = <Input extends Tagged, State, Command extends Tagged>(
  processManager: ProcessManager<Input, State, Command>,
  key: string
): string => StreamName.make(processManager.category ?? processManager.name, key)

/**
 * Nothing to do.
 *
 * @category constructors
 * @since 0.1.0
 */
export const nothing: Reaction<never, never> = { commands: [] }
