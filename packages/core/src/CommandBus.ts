/**
 * The command bus: a registry from command tag to handler. Commands are Schema tagged unions, so
 * the bus decodes them from JSON (`dispatchUnknown`) and validates typed ones too (`dispatch`):
 * nothing that fails its schema reaches a decider. A tag with no handler is `UnknownCommand`.
 *
 * @since 0.1.0
 */
import { Context, type Context as Ctx, Effect, Layer, Schema } from "effect"
import type { Aggregate, Tagged } from "./Aggregate.ts"
import * as CommandHandler from "./CommandHandler.ts"
import { type DecisionRejected, InvalidCommand, type InvalidEvent, UnknownCommand } from "./Errors.ts"
import type { AppendError, EventStore } from "./EventStore.ts"

/**
 * @category errors
 * @since 0.1.0
 */
export type CommandError = DecisionRejected<unknown> | AppendError | InvalidEvent | InvalidCommand | UnknownCommand

/**
 * Handlers for the commands of one schema, by tag.
 *
 * @category models
 * @since 0.1.0
 */
export interface Registration<R> {
  readonly commandTypes: ReadonlyArray<string>
  readonly schema: Schema.Codec<Tagged, unknown>
  readonly handle: (
    command: Tagged,
    context: CommandHandler.CommandContext
  ) => Effect.Effect<CommandHandler.CommandResult, CommandError, R>
}

/**
 * Register one handler per command tag of a tagged-union schema. The record must name every tag.
 *
 * @category registrations
 * @since 0.1.0
 */
export const handlers = <Command extends Tagged, R>(
  schema: Schema.Codec<Command, unknown> & { readonly cases: Readonly<Record<Command["_tag"], unknown>> },
  byTag: {
    readonly [Tag in Command["_tag"]]: (
      command: Extract<Command, { readonly _tag: Tag }>,
      context: CommandHandler.CommandContext
    ) => Effect.Effect<CommandHandler.CommandResult, CommandError, R>
  }
): Registration<R> => ({
  commandTypes: Object.keys(schema.cases),
  schema: schema as unknown as Schema.Codec<Tagged, unknown>,
  handle: (command, context) => {
    const handler = byTag[command._tag as Command["_tag"]] as (
      command: Tagged,
      context: CommandHandler.CommandContext
    ) => Effect.Effect<CommandHandler.CommandResult, CommandError, R>
    return handler(command, context)
  }
})

/**
 * Register every command of an aggregate with a `CommandHandler` for it.
 *
 * @category registrations
 * @since 0.1.0
 */
export const fromAggregate = <Command extends Tagged, Event extends Tagged, State, Rejection>(
  aggregate: Aggregate<Command, Event, State, Rejection>,
  options?: CommandHandler.Options
): Registration<EventStore> => {
  const handle = CommandHandler.make(aggregate, options)
  return {
    commandTypes: Object.keys(aggregate.commands.cases),
    schema: aggregate.commands as unknown as Schema.Codec<Tagged, unknown>,
    handle: (command, context) => handle(command as Command, context)
  }
}

/**
 * @category services
 * @since 0.1.0
 */
export class CommandBus extends Context.Service<
  CommandBus,
  {
    /** Validate and run a typed command. */
    readonly dispatch: (
      command: Tagged,
      context?: CommandHandler.CommandContext
    ) => Effect.Effect<CommandHandler.CommandResult, CommandError>
    /** Decode a command from JSON (`{ "_tag": ..., ... }`) and run it. */
    readonly dispatchUnknown: (
      input: unknown,
      context?: CommandHandler.CommandContext
    ) => Effect.Effect<CommandHandler.CommandResult, CommandError>
    /** Decode a command without running it. */
    readonly decode: (input: unknown) => Effect.Effect<Tagged, InvalidCommand | UnknownCommand>
    readonly commandTypes: ReadonlyArray<string>
  }
>()("@eventline/core/CommandBus") {}

const tagOf = (input: unknown): string | undefined =>
  typeof input === "object" && input !== null && "_tag" in input && typeof input._tag === "string"
    ? input._tag
    : undefined

/**
 * A bus over these registrations. A command tag registered twice is a defect at start-up.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function* <R>(registrations: ReadonlyArray<Registration<R>>) {
  const context: Ctx.Context<R> = yield* Effect.context<R>()
  const byTag = new Map<string, Registration<R>>()
  for (const registration of registrations) {
    for (const tag of registration.commandTypes) {
      if (byTag.has(tag)) return yield* Effect.die(new Error(`command '${tag}' is registered twice`))
      byTag.set(tag, registration)
    }
  }

  // each schema's decoders, built once (deriving the typed side per call rebuilt its parser every time)
  type Decode = (input: unknown) => Effect.Effect<Tagged, Schema.SchemaError>
  const decoders = new Map<Registration<R>, { readonly encoded: Decode; readonly typed: Decode }>()
  for (const registration of new Set(byTag.values())) {
    decoders.set(registration, {
      encoded: Schema.decodeUnknownEffect(registration.schema),
      typed: Schema.decodeUnknownEffect(Schema.toType(registration.schema))
    })
  }

  /** Find the registration and check the input against its schema: encoded (JSON) or typed. */
  const check =
    (side: "encoded" | "typed") =>
    (input: unknown): Effect.Effect<Tagged, InvalidCommand | UnknownCommand> => {
      const tag = tagOf(input)
      if (tag === undefined) return Effect.fail(new InvalidCommand({ reason: "a command needs a string '_tag'" }))
      const registration = byTag.get(tag)
      if (registration === undefined) return Effect.fail(new UnknownCommand({ commandType: tag }))
      const decode = (decoders.get(registration) as { readonly encoded: Decode; readonly typed: Decode })[side]
      return decode(input).pipe(Effect.mapError((error) => new InvalidCommand({ reason: error.message })))
    }
  const decode = check("encoded")
  const validate = check("typed")

  const run =
    (checked: (input: unknown) => Effect.Effect<Tagged, InvalidCommand | UnknownCommand>) =>
    (
      input: unknown,
      commandContext: CommandHandler.CommandContext = {}
    ): Effect.Effect<CommandHandler.CommandResult, CommandError> =>
      Effect.flatMap(checked(input), (command) =>
        (byTag.get(command._tag) as Registration<R>).handle(command, commandContext)
      ).pipe(Effect.provideContext(context), Effect.withSpan("CommandBus.dispatch"))

  return CommandBus.of({
    dispatch: run(validate),
    dispatchUnknown: run(decode),
    decode,
    commandTypes: [...byTag.keys()]
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = <R>(registrations: ReadonlyArray<Registration<R>>): Layer.Layer<CommandBus, never, R> =>
  Layer.effect(CommandBus, make(registrations))
