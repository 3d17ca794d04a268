// The real @nozbe/watermelondb client, run in plain Node against the fieldsync sync API.
//
// Everything here is what an app would do on a phone, minus React and Babel:
//   - the local schema and one Model class per table are built from GET /api/v1/sync/schema,
//     with field accessors defined by hand (no decorators);
//   - the LokiJS adapter runs in memory (no web worker, no IndexedDB in Node);
//   - synchronize() gets pullChanges/pushChanges that call our HTTP API with Node's fetch.
//
// On top of that, every pull and push response is checked against the wire contract
// (checkPullResponse/checkPushResponse), because WatermelonDB silently coerces or skips a lot of
// malformed input (a numeric id becomes a random id, a wrong-typed value becomes null/''/0/false).

import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'

const require = createRequire(import.meta.url)

const { Database, Model, appSchema, tableSchema } = require('@nozbe/watermelondb')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const { synchronize, hasUnsyncedChanges } = require('@nozbe/watermelondb/sync')
const { setGenerator } = require('@nozbe/watermelondb/utils/common/randomId')
const watermelonLogger = require('@nozbe/watermelondb/utils/common/logger').default

export const WATERMELON_VERSION = require('@nozbe/watermelondb/package.json').version
export const LOKIJS_VERSION = require('lokijs/package.json').version

// ---------------------------------------------------------------------------------------------
// Ids and logging (process-wide: WatermelonDB keeps both as module singletons)

// New records get RFC 4122 v4 UUIDs, as the server expects client-generated UUID primary keys.
setGenerator(() => randomUUID())

// Watermelon warnings we know about and that say nothing about sync behaviour.
const KNOWN_NOISE = [
  'LokiJSAdapter {useIncrementalIndexedDB: false} option is now deprecated',
]

/** Everything WatermelonDB logged through its logger while this process ran. */
export const clientLog = { errors: [], warnings: [] }

function messageText(messages) {
  return messages
    .map((item) => (item instanceof Error ? item.message : typeof item === 'string' ? item : JSON.stringify(item)))
    .join(' ')
}

// Errors are never silenced: WatermelonDB reports recoverable protocol problems with logError
// (e.g. "Server wants client to update record ... but it doesn't exist locally") and keeps going,
// so they are recorded for the caller and written to stderr. Warnings are recorded and written to
// stderr unless they are known noise. log/debug chatter is dropped.
watermelonLogger.log = () => {}
watermelonLogger.debug = () => {}
watermelonLogger.warn = (...messages) => {
  const text = messageText(messages)
  if (KNOWN_NOISE.some((noise) => text.includes(noise))) return
  clientLog.warnings.push(text)
  process.stderr.write(`[watermelondb warn] ${text}\n`)
}
watermelonLogger.error = (...messages) => {
  const text = messageText(messages)
  clientLog.errors.push(text)
  process.stderr.write(`[watermelondb error] ${text}\n`)
}

// ---------------------------------------------------------------------------------------------
// Schema and models

// Names a field accessor must not take, because Model (or an instance) already uses them.
const MODEL_OWN_FIELDS = new Set([
  'collection', '_raw', '_isEditing', '_preparedState', '__changes', '_subscribers',
])

function isReservedAccessorName(name) {
  return MODEL_OWN_FIELDS.has(name) || name in Model.prototype
}

function camelCase(name) {
  return name.replace(/_([a-z0-9])/g, (_, char) => char.toUpperCase())
}

/**
 * Build a Model subclass for one table, with a get/set accessor per column named exactly as the
 * column (`record.full_name`), implemented like WatermelonDB's @field decorator.
 *
 * appTimestamps: also define `createdAt`/`updatedAt` accessors when the table has `created_at` /
 * `updated_at` columns. That is what an app with `@readonly @date('updated_at')` does, and it makes
 * WatermelonDB stamp those columns with the *device clock* on create/update.
 */
export function modelClassFor(tableSpec, { appTimestamps = false } = {}) {
  const ModelClass = class extends Model {
    static table = tableSpec.name
    static associations = {}
  }
  Object.defineProperty(ModelClass, 'name', { value: `Model_${tableSpec.name}` })

  const skipped = []
  for (const column of tableSpec.columns) {
    if (isReservedAccessorName(column.name)) {
      skipped.push(column.name) // still reachable through record._getRaw(name)
      continue
    }
    Object.defineProperty(ModelClass.prototype, column.name, {
      configurable: true,
      enumerable: true,
      get() {
        return this.asModel._getRaw(column.name)
      },
      set(value) {
        this.asModel._setRaw(column.name, value)
      },
    })
  }
  if (appTimestamps) {
    for (const column of ['created_at', 'updated_at']) {
      if (!tableSpec.columns.some((c) => c.name === column)) continue
      Object.defineProperty(ModelClass.prototype, camelCase(column), {
        configurable: true,
        get() {
          const value = this.asModel._getRaw(column)
          return value ? new Date(value) : null
        },
      })
    }
  }
  ModelClass.skippedAccessors = skipped
  return ModelClass
}

function columnFromJson(tableName, column) {
  const { name, type, isOptional = false, isIndexed = false } = column ?? {}
  if (typeof name !== 'string' || !['string', 'number', 'boolean'].includes(type)) {
    throw new ContractError(`schema: bad column in ${tableName}: ${JSON.stringify(column)}`)
  }
  const spec = { name, type }
  if (isOptional) spec.isOptional = true
  if (isIndexed) spec.isIndexed = true
  return spec
}

/** Turn the server's schema JSON into a WatermelonDB appSchema (tableSchema validates names). */
export function buildAppSchema(schemaJson) {
  if (!schemaJson || !Number.isInteger(schemaJson.version) || schemaJson.version < 1) {
    throw new ContractError(`schema: version must be a positive integer, got ${JSON.stringify(schemaJson?.version)}`)
  }
  if (!Array.isArray(schemaJson.tables) || schemaJson.tables.length === 0) {
    throw new ContractError('schema: tables must be a non-empty array')
  }
  const tables = schemaJson.tables.map((table) =>
    tableSchema({
      name: table.name,
      columns: (table.columns ?? []).map((column) => columnFromJson(table.name, column)),
    }),
  )
  return appSchema({ version: schemaJson.version, tables })
}

/**
 * Open an in-memory WatermelonDB database shaped by the server's schema JSON.
 * Returns the Database; `db.schemaJson` keeps the JSON it was built from.
 */
export async function openDatabase(schemaJson, { appTimestamps = false, migrations, dbName } = {}) {
  const schema = buildAppSchema(schemaJson)
  const adapter = new LokiJSAdapter({
    schema,
    ...(migrations ? { migrations } : {}),
    dbName: dbName ?? `fieldsync-${randomUUID()}`,
    useWebWorker: false,
    useIncrementalIndexedDB: false, // no IndexedDB in Node -> LokiMemoryAdapter
    // no autosave timer (it would keep the process alive), no Loki console chatter
    extraLokiOptions: { autosave: false, verbose: false },
    onSetUpError: (error) => {
      throw error
    },
  })
  const modelClasses = Object.values(schema.tables).map((table) =>
    modelClassFor({ name: table.name, columns: table.columnArray }, { appTimestamps }),
  )
  const db = new Database({ adapter, modelClasses })
  db.schemaJson = schemaJson
  // The adapter sets up asynchronously; a first read waits for it and surfaces setup errors.
  await db.get(schema.tables[Object.keys(schema.tables)[0]].name).query().fetchCount()
  return db
}

export function tableNames(db) {
  return Object.keys(db.schema.tables)
}

/** Number of local records (any _status except locally deleted) per table. */
export async function countRecords(db) {
  const counts = {}
  for (const table of tableNames(db)) {
    counts[table] = await db.get(table).query().fetchCount()
  }
  return counts
}

/** The raw local row (`id`, columns, `_status`, `_changed`) or null. */
export async function findRaw(db, table, id) {
  try {
    const record = await db.get(table).find(id)
    return { ...record._raw }
  } catch {
    return null
  }
}

export async function listRaw(db, table) {
  const records = await db.get(table).query().fetch()
  return records.map((record) => ({ ...record._raw })).sort((a, b) => (a.id < b.id ? -1 : 1))
}

export { hasUnsyncedChanges }

// ---------------------------------------------------------------------------------------------
// Local writes (what the app does between syncs)

function checkValues(db, table, values) {
  const tableSchemaObject = db.schema.tables[table]
  if (!tableSchemaObject) throw new Error(`unknown table ${table}`)
  if (!values || typeof values !== 'object' || Array.isArray(values)) {
    throw new Error(`values for ${table} must be an object`)
  }
  // WatermelonDB would silently turn a wrong-typed value into null/''/0/false: refuse instead.
  for (const [name, value] of Object.entries(values)) {
    const column = tableSchemaObject.columns[name]
    if (!column) throw new Error(`${table} has no column ${name}`)
    if (value === null) {
      if (!column.isOptional) throw new Error(`${table}.${name} is not optional`)
    } else if (typeof value !== column.type) {
      throw new Error(`${table}.${name} must be ${column.type}, got ${JSON.stringify(value)}`)
    }
  }
}

/** Create a record with the given column values; returns its raw row (with the new UUID id). */
export async function createRecord(db, table, values) {
  checkValues(db, table, values)
  return db.write(async () => {
    const record = await db.get(table).create((draft) => {
      for (const [name, value] of Object.entries(values)) draft._setRaw(name, value)
    })
    return { ...record._raw }
  }, `fieldsync-create-${table}`)
}

/** Update columns of an existing local record; returns its raw row. */
export async function updateRecord(db, table, id, values) {
  checkValues(db, table, values)
  return db.write(async () => {
    const record = await db.get(table).find(id)
    await record.update((draft) => {
      for (const [name, value] of Object.entries(values)) draft._setRaw(name, value)
    })
    return { ...record._raw }
  }, `fieldsync-update-${table}`)
}

/** Mark a record as deleted (the sync-aware delete: pushed as `deleted`, then destroyed). */
export async function deleteRecord(db, table, id) {
  return db.write(async () => {
    const record = await db.get(table).find(id)
    await record.markAsDeleted()
  }, `fieldsync-delete-${table}`)
}

// ---------------------------------------------------------------------------------------------
// HTTP

export class ContractError extends Error {
  constructor(message, details = {}) {
    super(message)
    this.name = 'ContractError'
    this.details = details
  }
}

export class ApiError extends Error {
  constructor({ status, code, message, details, method, url }) {
    super(`${method} ${url} -> HTTP ${status} ${code ?? ''}: ${message ?? ''}`.trim())
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.apiMessage = message
    this.details = details
  }
}

async function requestJson({ server, token, method, path, query, body }) {
  const url = new URL(path, server.endsWith('/') ? server : `${server}/`)
  for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, value)
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  let json
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    json = undefined
  }
  if (!response.ok) {
    const envelope = json && typeof json === 'object' ? json : {}
    const error = new ApiError({
      status: response.status,
      code: envelope.code,
      message: envelope.message ?? text.slice(0, 200),
      details: envelope.details,
      method,
      url: url.pathname + url.search,
    })
    // The contract: every error is {"code","message","details"}.
    error.envelopeOk =
      typeof envelope.code === 'string' && typeof envelope.message === 'string' && 'details' in envelope
    throw error
  }
  if (json === undefined) {
    throw new ContractError(`${method} ${url.pathname}: response is not JSON: ${text.slice(0, 200)}`)
  }
  return json
}

export async function fetchSchema({ server, token }) {
  return requestJson({ server, token, method: 'GET', path: 'api/v1/sync/schema' })
}

// ---------------------------------------------------------------------------------------------
// Contract checks on what the server sends

const SAFE_ID = /^[A-Za-z0-9_.-]{1,64}$/

const isPlainObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value)

/** Problems (strings) with a pull response; [] when it honours the contract. */
export function checkPullResponse(response, db) {
  const problems = []
  if (!isPlainObject(response)) return ['pull response is not an object']
  const { changes, timestamp } = response
  // Watermelon stores the cursor as a string and reads it back with parseInt: it must be an
  // integer, > 0 and exactly representable as a double.
  if (!Number.isSafeInteger(timestamp) || timestamp <= 0) {
    problems.push(`timestamp must be a positive safe integer, got ${JSON.stringify(timestamp)}`)
  }
  if ('has_more' in response && typeof response.has_more !== 'boolean') {
    problems.push(`has_more must be a boolean, got ${JSON.stringify(response.has_more)}`)
  }
  if ('experimentalStrategy' in response && !['incremental', 'replacement'].includes(response.experimentalStrategy)) {
    problems.push(`experimentalStrategy must be "replacement" (or absent), got ${JSON.stringify(response.experimentalStrategy)}`)
  }
  if (!isPlainObject(changes)) return [...problems, 'changes must be an object']
  for (const [table, tableChanges] of Object.entries(changes)) {
    if (db && !db.schema.tables[table]) {
      // Watermelon skips unknown tables with a warning (forward compatibility): allowed.
      continue
    }
    if (!isPlainObject(tableChanges)) {
      problems.push(`changes.${table} must be an object`)
      continue
    }
    const seen = new Map()
    for (const list of ['created', 'updated', 'deleted']) {
      // Watermelon calls .forEach on all three lists: each must be present.
      if (!Array.isArray(tableChanges[list])) {
        problems.push(`changes.${table}.${list} must be an array`)
        continue
      }
      for (const item of tableChanges[list]) {
        const id = list === 'deleted' ? item : item?.id
        if (list !== 'deleted') {
          if (!isPlainObject(item)) {
            problems.push(`changes.${table}.${list} holds a non-object`)
            continue
          }
          if ('_status' in item || '_changed' in item) {
            problems.push(`changes.${table}.${list} record ${id} carries _status/_changed (Watermelon throws)`)
          }
          if (db) problems.push(...checkRawTypes(db, table, item).map((p) => `changes.${table}.${list} ${p}`))
        }
        // Backend.md: ids MUST only contain safe characters ([a-zA-Z0-9], plus _-. with a custom
        // generator). A non-string id is replaced by a random one on the client, silently.
        if (typeof id !== 'string' || !SAFE_ID.test(id)) {
          problems.push(`changes.${table}.${list} id must be a string of [A-Za-z0-9_.-], got ${JSON.stringify(id)}`)
          continue
        }
        if (seen.has(id)) problems.push(`${table}#${id} appears in both ${seen.get(id)} and ${list}`)
        seen.set(id, list)
      }
    }
  }
  return problems
}

function checkRawTypes(db, table, raw) {
  const problems = []
  const columns = db.schema.tables[table].columns
  for (const [name, column] of Object.entries(columns)) {
    // A record may omit columns (Backend.md shows partial `updated` rows); Watermelon then keeps
    // the local value (updated) or uses null/''/0/false (created).
    if (!(name in raw)) continue
    const value = raw[name]
    if (value === null) {
      if (!column.isOptional) problems.push(`${table}#${raw.id}.${name} is null but not optional`)
    } else if (typeof value !== column.type || (column.type === 'number' && !Number.isFinite(value))) {
      problems.push(`${table}#${raw.id}.${name} must be ${column.type}, got ${JSON.stringify(value)}`)
    }
  }
  return problems
}

/** Problems (strings) with a push response; [] when it honours the contract. */
export function checkPushResponse(response) {
  const problems = []
  if (!isPlainObject(response)) return ['push response is not an object']
  const rejected = response.experimentalRejectedIds
  if (!isPlainObject(rejected)) {
    problems.push('experimentalRejectedIds must be an object')
  } else {
    for (const [table, ids] of Object.entries(rejected)) {
      if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) {
        problems.push(`experimentalRejectedIds.${table} must be an array of string ids`)
      }
    }
  }
  for (const key of ['rejections', 'conflicts']) {
    if (!Array.isArray(response[key])) problems.push(`${key} must be an array`)
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Sync

export function changeCounts(changes) {
  const counts = {}
  let total = 0
  for (const [table, { created = [], updated = [], deleted = [] } = {}] of Object.entries(changes ?? {})) {
    counts[table] = { created: created.length, updated: updated.length, deleted: deleted.length }
    total += created.length + updated.length + deleted.length
  }
  return { counts, total }
}

export function changeIds(changes) {
  const ids = {}
  for (const [table, { created = [], updated = [], deleted = [] } = {}] of Object.entries(changes ?? {})) {
    ids[table] = {
      created: created.map((raw) => raw.id),
      updated: updated.map((raw) => raw.id),
      deleted: [...deleted],
    }
  }
  return ids
}

/**
 * One WatermelonDB synchronize() against the server: pull (one page), apply, save cursor, push.
 * `beforePush({changes, lastPulledAt})`, if given, is awaited just before the push request.
 *
 * Returns a report: { pull: {lastPulledAt, timestamp, hasMore, strategy, counts, total, ids},
 * push: null | {lastPulledAt, counts, total, ids, body, response}, log, clientErrors }.
 * Throws ApiError on a non-2xx answer and ContractError when a response breaks the contract
 * (unless `strict: false`, then the problems are only reported in `report.problems`).
 */
export async function syncOnce(
  db,
  { server, token, log = {}, strict = true, migrationsEnabledAtVersion, conflictResolver, beforePush } = {},
) {
  const report = { pull: null, push: null, problems: [], log }
  const errorsBefore = clientLog.errors.length
  // All problems of one response are reported together (a ContractError lists them all).
  const problems = (where, found) => {
    const texts = found.map((text) => `${where}: ${text}`)
    report.problems.push(...texts)
    if (strict && texts.length) throw new ContractError(texts.join('; '), { problems: texts })
  }

  const pullChanges = async ({ lastPulledAt, schemaVersion, migration }) => {
    const response = await requestJson({
      server,
      token,
      method: 'GET',
      path: 'api/v1/sync/pull',
      query: {
        last_pulled_at: lastPulledAt == null ? 'null' : String(lastPulledAt),
        schema_version: String(schemaVersion),
        migration: migration == null ? 'null' : JSON.stringify(migration),
      },
    })
    problems('pull', checkPullResponse(response, db))
    const { counts, total } = changeCounts(response.changes)
    report.pull = {
      lastPulledAt,
      schemaVersion,
      migration,
      timestamp: response.timestamp,
      hasMore: response.has_more === true,
      strategy: response.experimentalStrategy ?? null,
      counts,
      total,
      ids: changeIds(response.changes),
    }
    // Hand Watermelon exactly what the server said (it ignores keys it does not know).
    return response
  }

  const pushChanges = async ({ changes, lastPulledAt }) => {
    const { counts, total } = changeCounts(changes)
    report.push = { lastPulledAt, counts, total, ids: changeIds(changes), body: { changes } }
    // A test hook: runs after Watermelon applied the pull and collected its local changes, before
    // the push request leaves (other writers may act here, or the app may edit records).
    if (beforePush) await beforePush({ changes, lastPulledAt })
    const response = await requestJson({
      server,
      token,
      method: 'POST',
      path: 'api/v1/sync/push',
      query: { last_pulled_at: String(lastPulledAt) },
      body: { changes },
    })
    report.push.response = response
    problems('push', checkPushResponse(response))
    return response
  }

  await synchronize({
    database: db,
    pullChanges,
    pushChanges,
    sendCreatedAsUpdated: false,
    ...(migrationsEnabledAtVersion ? { migrationsEnabledAtVersion } : {}),
    ...(conflictResolver ? { conflictResolver } : {}),
    log,
  })
  report.clientErrors = clientLog.errors.slice(errorsBefore)
  return report
}

/**
 * What an app does with `has_more`: call synchronize() again until the server says it is done.
 * Note that every round also pushes (synchronize() always pushes after it pulls).
 */
export async function syncUntilDone(db, options = {}) {
  const { maxRounds = 1000 } = options
  const rounds = []
  for (;;) {
    const report = await syncOnce(db, options)
    rounds.push(report)
    if (!report.pull.hasMore) break
    if (rounds.length >= maxRounds) {
      throw new ContractError(`pull still has_more after ${maxRounds} rounds`)
    }
  }
  const pulled = {}
  let pulledTotal = 0
  const pushed = {}
  for (const { pull, push } of rounds) {
    for (const [table, counts] of Object.entries(pull.counts)) {
      const sum = (pulled[table] ??= { created: 0, updated: 0, deleted: 0 })
      for (const key of Object.keys(sum)) sum[key] += counts[key]
    }
    pulledTotal += pull.total
    for (const [table, counts] of Object.entries(push?.counts ?? {})) {
      const sum = (pushed[table] ??= { created: 0, updated: 0, deleted: 0 })
      for (const key of Object.keys(sum)) sum[key] += counts[key]
    }
  }
  return {
    rounds,
    pulled,
    pulledTotal,
    pushed,
    timestamp: rounds.at(-1).pull.timestamp,
    clientErrors: rounds.flatMap((round) => round.clientErrors ?? []),
    problems: rounds.flatMap((round) => round.problems),
  }
}
