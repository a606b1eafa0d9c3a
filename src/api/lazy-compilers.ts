// Fastify's own schema compilers (Ajv, fast-json-stringify), deferred: a route's validator or serializer is compiled
// the first time the route reads a body or a query or sends an answer, not while the agent starts (an agent's start is
// its join: about 100 ms of compiling 20 routes' schemas and building Ajv moved off it; issue 20).
import { AjvCompiler } from '@fastify/ajv-compiler'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'

type ValidatorFactory = ReturnType<typeof AjvCompiler>
type SerializerFactory = ReturnType<typeof SerializerSelector>
type Validator = ReturnType<ReturnType<ValidatorFactory>>
type Serializer = ReturnType<ReturnType<SerializerFactory>>

/** Once: the first call makes the value, every later one returns it. */
function once<T> (make: () => T): () => T {
  let made: { value: T } | undefined
  return () => (made ??= { value: make() }).value
}

/**
 * Ajv's factory, deferred. Fastify reads a failed validation's reasons from the validator function's `errors`
 * property, so the stand-in passes the compiled one's on.
 */
export function lazyValidators (): ValidatorFactory {
  const factory = AjvCompiler()
  return ((externalSchemas, options) => {
    const compiler = once(() => factory(externalSchemas, options))
    return (route: Parameters<ReturnType<ValidatorFactory>>[0]) => {
      const compiled = once(() => compiler()(route))
      const validate = ((data: unknown) => compiled()(data)) as Validator
      Object.defineProperty(validate, 'errors', { get: () => compiled().errors })
      return validate
    }
  }) as ValidatorFactory
}

/** fast-json-stringify's factory, deferred: each route's serializer is compiled on its first answer. */
export function lazySerializers (): SerializerFactory {
  const factory = SerializerSelector()
  return (externalSchemas, options) => {
    const compiler = once(() => factory(externalSchemas, options))
    return route => {
      const compiled = once(() => compiler()(route))
      return ((doc: unknown) => compiled()(doc)) as Serializer
    }
  }
}
