/**
 * One copy of `effect` per process. Eventline's schemas, services and errors only work with the
 * app's own copy: with two, a valid command fails its schema (the app's `Schema.Int` is not the
 * library's) and services are not found. Each @eventline/core that loads records the `effect` it
 * was linked against in a process-wide registry; a second core linked against another `effect`
 * refuses to load, naming both.
 *
 * @internal
 */
import { Schema } from "effect"
import { identity } from "effect/Function"

/** One loaded @eventline/core and the `effect` it uses. */
export interface Registration {
  /** An object that exists once per copy of `effect`: two copies give two different objects. */
  readonly marker: unknown
  /** Where that `effect` lives (file URL of its entry point), when the runtime can tell. */
  readonly effectUrl: string | undefined
  /** Where this @eventline/core lives. */
  readonly coreUrl: string
}

/** The registry's key: `Symbol.for`, so every copy of core finds the same slot. */
export const registryKey: unique symbol = Symbol.for("@eventline/core/effect-instance")

/** A second @eventline/core linked against another copy of `effect`. */
export class TwoCopiesOfEffect extends Error {
  override readonly name = "TwoCopiesOfEffect"
}

const where = (url: string | undefined): string => url ?? "(a location this runtime does not tell)"

/** The message: both locations, and what to do about it. */
export const message = (first: Registration, second: Registration): string =>
  [
    "@eventline/core: two copies of `effect` are loaded in this process.",
    `  @eventline/core at ${second.coreUrl}`,
    `    uses effect at ${where(second.effectUrl)}`,
    `  but @eventline/core at ${first.coreUrl}`,
    `    uses effect at ${where(first.effectUrl)}`,
    "Eventline's schemas, services and errors work only with one copy of effect shared by the whole app.",
    "Dedupe it: `npm ls effect` shows where each copy comes from; install one version of effect that",
    "satisfies every package's peerDependency (`npm dedupe`), and make libraries that use Eventline list",
    "effect and @eventline/* as peerDependencies rather than dependencies."
  ].join("\n")

/**
 * Records `registration`, or throws `TwoCopiesOfEffect` when a core already registered here uses
 * another copy of `effect`. The same copy seen again (a test runner re-evaluating core against
 * the one cached `effect`, or the same effect file evaluated twice) is not a second copy.
 */
export const register = (registry: object, registration: Registration): void => {
  const slots = registry as { [registryKey]?: Registration }
  const first = slots[registryKey]
  if (first !== undefined && first.marker !== registration.marker) {
    const sameFile = first.effectUrl !== undefined && first.effectUrl === registration.effectUrl
    if (!sameFile) throw new TwoCopiesOfEffect(message(first, registration))
  }
  if (first === undefined || first.marker !== registration.marker) {
    Object.defineProperty(registry, registryKey, { value: registration, configurable: true, writable: true })
  }
}

/** Where `effect` resolves from this module, i.e. the copy this core imports. */
const resolveEffect = (): string | undefined => {
  try {
    return typeof import.meta.resolve === "function" ? import.meta.resolve("effect") : undefined
  } catch {
    return undefined
  }
}

register(globalThis, { marker: identity, effectUrl: resolveEffect(), coreUrl: new URL("../", import.meta.url).href })

/** The prototype every schema AST node of this copy of `effect` inherits from. */
const astRoot = (ast: unknown): unknown => {
  let proto: unknown = typeof ast === "object" && ast !== null ? Object.getPrototypeOf(ast) : null
  while (proto !== null && typeof proto === "object") {
    const parent: unknown = Object.getPrototypeOf(proto)
    if (parent === Object.prototype || parent === null) return proto
    proto = parent
  }
  return proto
}

const ownRoot = astRoot(Schema.String.ast)

/**
 * Throws `TwoCopiesOfEffect` when `schema` was built with another copy of `effect` than this
 * core's (the app's own copy beside the library's): such a schema fails valid input for reasons
 * nobody can see ("Expected an integer" for an integer).
 */
export const assertOwnSchema = (schema: { readonly ast: unknown }, what: string): void => {
  if (astRoot(schema.ast) !== ownRoot) {
    throw new TwoCopiesOfEffect(
      [
        `@eventline/core: ${what} was built with another copy of \`effect\` than the one @eventline/core uses.`,
        `  @eventline/core at ${new URL("../", import.meta.url).href}`,
        `    uses effect at ${where(resolveEffect())}`,
        "Eventline's schemas, services and errors work only with one copy of effect shared by the whole app.",
        "Dedupe it: `npm ls effect` shows where each copy comes from; install one version of effect that",
        "satisfies every package's peerDependency (`npm dedupe`)."
      ].join("\n")
    )
  }
}
