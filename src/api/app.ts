// Builds the Fastify app: registers the route table and maps every failure to a clear JSON error.
import swagger from '@fastify/swagger'
import { timingSafeEqual } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyTypeProvider, type onRequestHookHandler, type preValidationHookHandler } from 'fastify'
import { InjectError } from '../core/inject.ts'
import { readinessSchema } from './agent-schemas.ts'
import { sendReleasing } from './release-body.ts'
import { JsonCache } from './json-cache.ts'
import { lazySerializers, lazyValidators } from './lazy-compilers.ts'
import { InvalidReport } from './legacy.ts'
import { registerPage } from './page-route.ts'
import { RateLimiter } from './rate-limit.ts'
import { readRoutes, writeRoutes, type ApiDeps, type Typed } from './routes.ts'
import { VERSION } from '../shared/version.ts'

/** What Fastify sends serialised JSON as. */
const JSON_TYPE = 'application/json; charset=utf-8'

/** Where every agent serves its OpenAPI document. */
export const OPENAPI_PATH = '/api/v1/openapi.json'

export interface ApiOptions {
  bodyLimit: number
  /** The legacy write endpoints: off, or on with an optional bearer token and a per-client rate (default: on, open, 120/min). */
  writes?: { enabled: boolean, token: string | null, perMinute: number }
  logger?: FastifyBaseLogger
  /** A legacy body carried fields its schema does not know: they were dropped (the original's server ignored them). */
  onUnknownFields?: (url: string, count: number) => void
}

const successBody = {
  type: 'object',
  properties: { status: { type: 'string' }, message: { type: 'string' } }
} as const

const errorBody = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} }
} as const

function errorReply (err: FastifyError): { status: number, body: { code: string, message: string, details?: unknown } } {
  if (err instanceof InvalidReport) return { status: 400, body: { code: 'INVALID_REQUEST', message: err.message, details: err.details } }
  if (err instanceof InjectError) {
    // only the cap is a capacity problem; anything else the view refused (a stale write) is a conflict
    if (err.code === 'CAPACITY') return { status: 503, body: { code: 'CAPACITY_EXCEEDED', message: err.message } }
    if (err.code === 'TOO_LARGE') return { status: 413, body: { code: 'TOO_LARGE', message: err.message } }
    return { status: 409, body: { code: 'CONFLICT', message: err.message } }
  }
  if (err.validation !== undefined) {
    const details = err.validation.map(v => ({ field: v.instancePath === '' ? '(body)' : v.instancePath, problem: v.message ?? 'invalid', params: v.params }))
    return { status: 400, body: { code: 'INVALID_REQUEST', message: err.message, details } }
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return { status: 413, body: { code: 'PAYLOAD_TOO_LARGE', message: err.message } }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return { status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json' } }
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, body: { code: 'INVALID_REQUEST', message: err.message } }
  }
  return { status: 500, body: { code: 'INTERNAL', message: 'internal error' } }
}

/** Refuses a write before its body is read: turned off (403), over the client's rate (429), no valid token (401). */
function writeGuard (w: { enabled: boolean, token: string | null, perMinute: number }): onRequestHookHandler {
  const limiter = new RateLimiter({ perMinute: w.perMinute, maxClients: 10_000, now: Date.now })
  const expected = w.token === null ? null : Buffer.from(`Bearer ${w.token}`)
  return (req, reply, done) => {
    if (!w.enabled) {
      void reply.code(403).send({ code: 'WRITES_DISABLED', message: 'this agent does not accept reports (API_WRITES=off)' })
      return
    }
    const wait = limiter.take(req.ip)
    if (wait > 0) {
      void reply.code(429).header('retry-after', String(wait)).send({ code: 'RATE_LIMITED', message: `more than ${w.perMinute} writes a minute from ${req.ip}` })
      return
    }
    if (expected !== null) {
      const given = Buffer.from(req.headers.authorization ?? '')
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        void reply.code(401).header('www-authenticate', 'Bearer').send({ code: 'UNAUTHORIZED', message: 'a valid bearer token is required (API_TOKEN_FILE)' })
        return
      }
    }
    done()
  }
}

/**
 * Fastify's type provider for our JSON schemas: a route registered with a literal schema gets its query, body and
 * reply types from that schema (the table's routes are typed the same way by their builders in routes.ts).
 */
interface SchemaTypes extends FastifyTypeProvider {
  validator: Typed<this['schema']>
  serializer: Typed<this['schema']>
}

interface SchemaNode { properties?: Record<string, SchemaNode>, additionalProperties?: unknown, items?: SchemaNode }

/**
 * Drops, in place, the fields of a legacy body that its schema does not know (objects closed with
 * `additionalProperties: false`, down through known fields and list items); returns how many went. What is left is
 * validated as strictly as before: a malformed value of a known field is still a 400.
 */
export function dropUnknownFields (value: unknown, schema: SchemaNode): number {
  if (Array.isArray(value)) return schema.items === undefined ? 0 : value.reduce((n: number, v) => n + dropUnknownFields(v, schema.items as SchemaNode), 0)
  if (typeof value !== 'object' || value === null || schema.properties === undefined) return 0
  const record = value as Record<string, unknown>
  let dropped = 0
  for (const key of Object.keys(record)) {
    const known = Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined
    if (known !== undefined) dropped += dropUnknownFields(record[key], known)
    else if (schema.additionalProperties === false) { Reflect.deleteProperty(record, key); dropped++ }
  }
  return dropped
}

export function buildApi (deps: ApiDeps, opts: ApiOptions): FastifyInstance {
  const app = Fastify({
    ...(opts.logger === undefined ? { logger: false } : { loggerInstance: opts.logger }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    connectionTimeout: 30_000,
    requestTimeout: 15_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    schemaController: { compilersFactory: { buildValidator: lazyValidators(), buildSerializer: lazySerializers() } },
    ajv: { customOptions: { allowUnionTypes: true, removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } }
  })

  // slow clients cannot hold sockets: all headers within 10 s (bodies: requestTimeout), at most 64 of them
  app.server.headersTimeout = 10_000
  app.server.maxHeadersCount = 64
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const { status, body } = errorReply(err)
    if (status >= 500) req.log.error({ err }, 'request failed')
    else req.log.debug({ code: body.code, url: req.url }, 'request rejected')
    void reply.code(status).send(body)
  })
  // text/plain is read as JSON too (below, with every other content type), not as a string
  app.removeContentTypeParser('text/plain')
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` })
  })

  // the OpenAPI document is generated from the route schemas: swagger must see the routes, so they load after it
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'k8snet-checker', version: VERSION, description: 'Every agent answers from its own replica of the cluster view; the legacy POSTs come from the original tool\'s clients.' }
    }
  })
  const jsonCache = new JsonCache()
  void app.register(async api => {
    for (const route of readRoutes) {
      const schema = {
        summary: route.summary,
        ...(route.querystring === undefined ? {} : { querystring: route.querystring }),
        response: route.response === undefined ? { 200: { type: 'object', additionalProperties: true } } : { 200: route.response }
      }
      const json = route.json
      if (json === undefined) api.get(route.url, { schema }, async req => route.answer(deps.snapshot(), deps, (req.query ?? {}) as never))
      // the same bytes the schema's serializer would make of `answer`, from cached rows (src/api/json-cache.ts)
      else api.get(route.url, { schema }, async (_req, reply) => await sendReleasing(reply.type(JSON_TYPE), Buffer.concat(json(deps.snapshot(), deps, jsonCache.out(reply)))))
    }
    // the readiness probe's target: a starting agent answers 503 until it holds the cluster's view, so the Service
    // never routes a query to an agent that would answer from its own record alone
    api.withTypeProvider<SchemaTypes>().get('/api/v1/ready', { schema: { summary: 'Readiness: 200 once this agent holds the cluster\'s view (pulled from a peer, or none answered), else 503', response: { 200: readinessSchema, 503: readinessSchema } } }, async (_req, reply) => {
      const r = deps.ready?.() ?? { ready: true, reason: 'ready' }
      return await reply.code(r.ready ? 200 : 503).send(r)
    })
    if (deps.metrics !== undefined) {
      const metrics = deps.metrics
      const schema = { summary: 'Prometheus metrics of this agent (text exposition format)', produces: ['text/plain'], response: { 200: { type: 'string' } } }
      api.get('/metrics', { schema }, async (_req, reply) => { void reply.type(metrics.contentType); return await metrics.text() })
    }
    const guard = writeGuard(opts.writes ?? { enabled: true, token: null, perMinute: 120 })
    // the original's clients send JSON whatever their content type says (or without one): read any body as JSON, with
    // Fastify's own parser (prototype poisoning refused); a body that is not JSON is then a 400, as in the original
    api.addContentTypeParser('*', { parseAs: 'string' }, api.getDefaultJsonParser('error', 'error'))
    for (const route of writeRoutes) {
      const schema = { summary: route.summary, body: route.body, response: { 200: successBody, '4xx': errorBody, '5xx': errorBody } }
      const preValidation: preValidationHookHandler = (req, _reply, done) => {
        const dropped = dropUnknownFields(req.body, route.body)
        if (dropped > 0) opts.onUnknownFields?.(route.url, dropped)
        done()
      }
      api.post(route.url, { schema, onRequest: guard, preValidation }, async (req) => {
        deps.inject(route.normalise(req.body as never))
        return { status: 'success', message: route.accepted }
      })
    }
    api.get(OPENAPI_PATH, { schema: { summary: 'This OpenAPI document', response: { 200: { type: 'object', additionalProperties: true } } } }, async () => app.swagger())
    registerPage(api)
  })
  return app
}
