/**
 * An aggregate: a decider plus what it takes to store it. The stream type names its streams,
 * `streamId` says which stream a command goes to (within the aggregate's `category`, when it has
 * one), and the schemas encode its events to JSON and decode them back (and decode its commands
 * from JSON at the edges). An event type whose stored shape changed declares its versions and
 * the upcasters from each older one (`upcasters`); every read decodes stored events through them.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Option, Result, Schema } from "effect"
import type { Decider } from "./Decider.ts"
import { InvalidEvent } from "./Errors.ts"
import type { RecordedEvent } from "./EventEnvelope.ts"
import { assertOwnSchema } from "./internal/effectCopies.ts"
import * as StreamName from "./StreamName.ts"
import * as Upcaster from "./Upcaster.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Tagged {
  readonly _tag: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Aggregate<Command extends Tagged, Event extends Tagged, State, Rejection> {
  readonly streamType: string
  readonly decider: Decider<Command, Event, State, Rejection>
  /** The commands, a tagged union (`Schema.TaggedUnion`): decoded from JSON at the edges. */
  readonly commands: Schema.Codec<Command, unknown> & { readonly cases: Readonly<Record<Command["_tag"], unknown>> }
  /** The events, a tagged union: `_tag` becomes the stored type, the other fields the data. */
  readonly events: Schema.Codec<Event, unknown>
  /**
   * The version of the events' schema, stored with each event whose type has no entry in
   * `upcasters`. Such an event stored under a newer version does not decode.
   */
  readonly schemaVersion: number
  /**
   * Event types whose stored data changed shape: each declares its current version (written on
   * append) and the chain of upcasters that bring an older version to it (`Upcaster.chain`).
   *
   * @since 0.3.0
   */
  readonly upcasters?: Upcaster.Upcasters<Event["_tag"]> | undefined
  /**
   * The id of the entity a command acts on. With a `category`, the stored stream id is
   * `<category>-<id>` (see {@link streamIdOf}); without one it is this id as it is.
   */
  readonly streamId: (command: Command) => string
  /**
   * The category of its streams (KurrentDB's convention, `StreamName`): the stored stream id is
   * `<category>-<streamId(command)>`, so ids chosen by clients can never name a stream of another
   * aggregate or of a process manager. Letters, digits and `_`, no `-`. Without it the id returned
   * by `streamId` is the stream id as it is, as before 0.3.0.
   *
   * @since 0.3.0
   */
  readonly category?: string | undefined
  /** Snapshot every N events; needs a `SnapshotStore` in context. */
  readonly snapshot?: SnapshotPolicy<State> | undefined
  /**
   * The commands that usually start a new stream (a create). The handler decides them on the
   * initial state and appends them as the stream's first events without reading it first (one
   * round trip); when the stream exists after all, it loads it and decides again, so the outcome
   * is the same as without the hint.
   */
  readonly startsStream?: ((command: Command) => boolean) | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface SnapshotPolicy<State> {
  /** Encodes the state to JSON and back. */
  readonly state: Schema.Codec<State, unknown>
  /**
   * Bump it when the state's shape changes (also when an upcast event brings a field the state
   * keeps): older snapshots are then ignored, the stream is replayed through the upcasters, and
   * the next snapshot is written under this version.
   */
  readonly schemaVersion: number
  /** Write a snapshot once this many events have accumulated since the last one. */
  readonly every: number
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>
): Aggregate<Command, Event, State, Rejection> => {
  // a schema of another copy of effect would refuse valid commands for reasons nobody can see
  assertOwnSchema(aggregate.commands, `the command schema of aggregate '${aggregate.streamType}'`)
  assertOwnSchema(aggregate.events, `the event schema of aggregate '${aggregate.streamType}'`)
  for (const [type, chain] of Object.entries<Upcaster.Chain | undefined>(aggregate.upcasters ?? {})) {
    for (const [index, step] of (chain?.steps ?? []).entries()) {
      assertOwnSchema(step, `upcaster ${index + 1} of '${type}' of aggregate '${aggregate.streamType}'`)
    }
  }
  if (aggregate.category !== undefined && !Schema.is(StreamName.Category)(aggregate.category)) {
    throw new Error(
      `aggregate '${aggregate.streamType}': the category '${aggregate.category}' must be 1 to 50 letters, digits or '_', starting with a letter (no '-')`
    )
  }
  return aggregate
}

/**
 * The stored stream id of an entity id: `<category>-<id>` when the aggregate has a category,
 * the id itself otherwise.
 *
 * @category streams
 * @since 0.3.0
 */
export const streamIdFor = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  id: string
): string => (aggregate.category === undefined ? id : StreamName.make(aggregate.category, id))

/**
 * The stored stream id a command goes to.
 *
 * @category streams
 * @since 0.3.0
 */
export const streamIdOf = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  command: Command
): string => streamIdFor(aggregate, aggregate.streamId(command))

/**
 * The entity id of one of the aggregate's stored stream ids (the inverse of {@link streamIdFor});
 * none when the stream is not in the aggregate's category.
 *
 * @category streams
 * @since 0.3.0
 */
export const entityIdOf = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  streamId: string
): Option.Option<string> =>
  aggregate.category === undefined ? Option.some(streamId) : StreamName.idOf(aggregate.category, streamId)

const jsonCodecs = new WeakMap<object, Schema.Codec<unknown, Schema.Json>>()

/** The JSON codec of an events schema, derived once per schema. */
const jsonCodec = <Event>(events: Schema.Codec<Event, unknown>): Schema.Codec<Event, Schema.Json> => {
  let codec = jsonCodecs.get(events)
  if (codec === undefined) {
    codec = Schema.toCodecJson(events) as Schema.Codec<unknown, Schema.Json>
    jsonCodecs.set(events, codec)
  }
  return codec as Schema.Codec<Event, Schema.Json>
}

/**
 * The version an event type is written under: its chain's current version, or the aggregate's
 * `schemaVersion` when it has no chain.
 *
 * @category encoding
 * @since 0.3.0
 */
export const schemaVersionOf = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  type: string
): number => chainOf(aggregate, type)?.current ?? aggregate.schemaVersion

const chainOf = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  type: string
): Upcaster.Chain | undefined =>
  aggregate.upcasters === undefined || !Object.hasOwn(aggregate.upcasters, type)
    ? undefined
    : (aggregate.upcasters as Readonly<Record<string, Upcaster.Chain | undefined>>)[type]

/**
 * Encode a domain event into the type, JSON data and schema version that the store keeps.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeEvent = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  streamId: string,
  event: Event
): Effect.Effect<
  { readonly type: string; readonly data: Schema.Json; readonly schemaVersion: number },
  InvalidEvent
> => {
  const encoded = Schema.encodeUnknownExit(jsonCodec(aggregate.events))(event)
  if (Exit.isFailure(encoded) || typeof encoded.value !== "object" || encoded.value === null) {
    return Effect.fail(new InvalidEvent({ streamId, reason: `event '${event._tag}' cannot be encoded` }))
  }
  const { _tag, ...data } = encoded.value as Schema.JsonObject
  return Effect.succeed({ type: event._tag, data, schemaVersion: schemaVersionOf(aggregate, event._tag) })
}

/**
 * Decode a stored event of any version into the current domain event: an older version goes
 * through its type's upcasters first. Fails with `InvalidEvent` naming the type and version when
 * the version is newer than the code knows, when no upcaster reads it, or when it does not decode.
 * Pure: for code that cannot run effects (a process manager's `correlate`).
 *
 * @category encoding
 * @since 0.3.0
 */
export const decodeEventResult = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  event: RecordedEvent
): Result.Result<Event, InvalidEvent> => {
  const invalid = (why: string) =>
    Result.fail(
      new InvalidEvent({
        streamId: event.streamId,
        reason: `stored event ${event.eventId} (${event.type} v${event.schemaVersion}) ${why}`
      })
    )
  const chain = chainOf(aggregate, event.type)
  let stored = event.data
  if (chain === undefined) {
    if (event.schemaVersion > aggregate.schemaVersion) {
      return invalid(`is newer than this code knows (v${aggregate.schemaVersion})`)
    }
  } else if (event.schemaVersion !== chain.current) {
    const upcast = Upcaster.upcast(chain, event.type, event.schemaVersion, stored)
    if (Result.isFailure(upcast)) return invalid(`cannot be read: ${upcast.failure}`)
    stored = upcast.success
  }
  const data = typeof stored === "object" && stored !== null && !Array.isArray(stored) ? stored : {}
  const decoded = Schema.decodeUnknownExit(jsonCodec(aggregate.events))({ ...data, _tag: event.type })
  return Exit.isSuccess(decoded) ? Result.succeed(decoded.value) : invalid("does not decode")
}

/**
 * Decode a stored event back into the domain event, upcasting an older version first (see
 * {@link decodeEventResult}). Every read path that decodes an aggregate's events uses it.
 *
 * @category encoding
 * @since 0.1.0
 */
export const decodeEvent = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  event: RecordedEvent
): Effect.Effect<Event, InvalidEvent> => Effect.fromResult(decodeEventResult(aggregate, event))

/**
 * Encode a state for a snapshot; `undefined` when it cannot be encoded.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeState = <State>(policy: SnapshotPolicy<State>, state: State): Schema.Json | undefined => {
  const encoded = Schema.encodeUnknownExit(jsonCodec(policy.state))(state)
  return Exit.isSuccess(encoded) ? encoded.value : undefined
}

/**
 * Decode a snapshot's state; `undefined` when it does not decode (then the stream is replayed).
 *
 * @category encoding
 * @since 0.1.0
 */
export const decodeState = <State>(policy: SnapshotPolicy<State>, state: Schema.Json): State | undefined => {
  const decoded = Schema.decodeUnknownExit(jsonCodec(policy.state))(state)
  return Exit.isSuccess(decoded) ? decoded.value : undefined
}
