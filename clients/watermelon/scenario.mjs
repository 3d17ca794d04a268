#!/usr/bin/env node
// A device's day, played by the real WatermelonDB client against a fieldsync server.
//
//   node scenario.mjs --server http://127.0.0.1:8000 --token TOKEN \
//        [--mode full|pull-only] [--table checks] [--create-json '{...}'] [--update-json '{...}']
//        [--update-id ID] [--delete-table persons --delete-id ID] [--allow-client-errors]
//   node scenario.mjs --mode driver --server ... --token ...   # step by step, commands on stdin
//
// Prints one JSON object per line on stdout ({"step": ...}); the last line is the summary
// ({"ok": ..., ...}). Exit status: 0 all expectations held, 1 an expectation failed or a call
// failed, 2 bad arguments. WatermelonDB's own warnings/errors go to stderr.
//
// Driver mode lets a test interleave server-side writes with the device's steps: it prints
// {"step": "ready", ...}, then reads one JSON command per stdin line and answers each with one
// JSON line {"ok": true|false, "op": ..., ...}. Commands:
//   {"op": "sync"}  synchronize() until has_more is false  ({"once": true}: a single synchronize();
//                   {"pause_before_push": true}: before the first push request, print
//                   {"event": "before_push", ...} and run further commands until {"op": "continue"})
//   {"op": "create", "table", "values"}   {"op": "update", "table", "id", "values"}
//   {"op": "delete", "table", "id"}       {"op": "find", "table", "id"}   {"op": "list", "table"}
//   {"op": "counts"}   {"op": "unsynced"}   {"op": "set_server", "server": URL}   {"op": "exit"}

import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

import {
  ApiError,
  ContractError,
  LOKIJS_VERSION,
  WATERMELON_VERSION,
  countRecords,
  createRecord,
  deleteRecord,
  fetchSchema,
  findRaw,
  hasUnsyncedChanges,
  listRaw,
  openDatabase,
  syncOnce,
  syncUntilDone,
  updateRecord,
} from './lib/client.mjs'

const USAGE = `usage: node scenario.mjs --server URL --token TOKEN [--mode full|pull-only|driver]
  [--table checks] --create-json JSON [--update-json JSON] [--update-id ID]
  [--delete-table TABLE --delete-id ID] [--allow-client-errors] [--app-timestamps] [--max-rounds N]
  (FIELDSYNC_SERVER / FIELDSYNC_TOKEN may replace --server / --token)`

function emit(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`)
}

function usageError(message) {
  process.stderr.write(`${message}\n${USAGE}\n`)
  process.exit(2)
}

function parseJsonArg(name, text) {
  if (text === undefined) return undefined
  try {
    const value = JSON.parse(text)
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object')
    return value
  } catch (error) {
    return usageError(`--${name} must be a JSON object: ${error.message}`)
  }
}

function parseOptions(argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' },
        token: { type: 'string' },
        mode: { type: 'string', default: 'full' },
        table: { type: 'string', default: 'checks' },
        'create-json': { type: 'string' },
        'update-json': { type: 'string' },
        'update-id': { type: 'string' },
        'delete-table': { type: 'string' },
        'delete-id': { type: 'string' },
        'allow-client-errors': { type: 'boolean', default: false },
        'app-timestamps': { type: 'boolean', default: false },
        'max-rounds': { type: 'string', default: '1000' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values
  } catch (error) {
    return usageError(error.message)
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const options = {
    server: parsed.server ?? process.env.FIELDSYNC_SERVER,
    token: parsed.token ?? process.env.FIELDSYNC_TOKEN,
    mode: parsed.mode,
    table: parsed.table,
    createValues: parseJsonArg('create-json', parsed['create-json']),
    updateValues: parseJsonArg('update-json', parsed['update-json']),
    updateId: parsed['update-id'],
    deleteTable: parsed['delete-table'] ?? parsed.table,
    deleteId: parsed['delete-id'],
    allowClientErrors: parsed['allow-client-errors'],
    appTimestamps: parsed['app-timestamps'],
    maxRounds: Number.parseInt(parsed['max-rounds'], 10),
  }
  if (!options.server) usageError('--server (or FIELDSYNC_SERVER) is required')
  if (!options.token) usageError('--token (or FIELDSYNC_TOKEN) is required')
  if (!['full', 'pull-only', 'driver'].includes(options.mode)) usageError(`unknown --mode ${options.mode}`)
  if (options.mode === 'full' && !options.createValues) usageError('--create-json is required in full mode')
  if (!(options.maxRounds > 0)) usageError('--max-rounds must be a positive integer')
  return options
}

// ---------------------------------------------------------------------------------------------

const failures = []

function expect(name, ok, detail = undefined) {
  emit({ step: 'expect', name, ok: Boolean(ok), ...(detail === undefined ? {} : { detail }) })
  if (!ok) failures.push(name)
  return Boolean(ok)
}

function roundsSummary(result) {
  return result.rounds.map(({ pull, push }) => ({
    last_pulled_at: pull.lastPulledAt,
    timestamp: pull.timestamp,
    has_more: pull.hasMore,
    strategy: pull.strategy,
    pulled: pull.total,
    pushed: push ? push.total : 0,
  }))
}

function idsIn(changesIds) {
  const found = []
  for (const [table, lists] of Object.entries(changesIds)) {
    for (const [list, ids] of Object.entries(lists)) {
      for (const id of ids) found.push({ table, list, id })
    }
  }
  return found
}

function expectCursorMonotonic(name, rounds, previous) {
  let last = previous ?? 0
  const timestamps = []
  let ok = true
  for (const { pull } of rounds) {
    timestamps.push(pull.timestamp)
    if (pull.timestamp < last) ok = false
    last = pull.timestamp
  }
  expect(name, ok, { previous: previous ?? null, timestamps })
}

function rejectedIdsOf(result) {
  const rejected = {}
  for (const { push } of result.rounds) {
    for (const [table, ids] of Object.entries(push?.response?.experimentalRejectedIds ?? {})) {
      if (ids.length) rejected[table] = [...(rejected[table] ?? []), ...ids]
    }
  }
  return rejected
}

async function run(options) {
  const connection = { server: options.server, token: options.token, maxRounds: options.maxRounds }

  // (a) schema -> local database
  const schemaJson = await fetchSchema(connection)
  const db = await openDatabase(schemaJson, { appTimestamps: options.appTimestamps })
  emit({
    step: 'schema',
    version: schemaJson.version,
    tables: Object.fromEntries(schemaJson.tables.map((table) => [table.name, table.columns.length])),
    watermelondb: WATERMELON_VERSION,
    lokijs: LOKIJS_VERSION,
  })

  // (b) initial sync, looping on has_more
  const initial = await syncUntilDone(db, connection)
  const pulledCounts = await countRecords(db)
  emit({
    step: 'initial_sync',
    rounds: roundsSummary(initial),
    changes: initial.pulled,
    counts: pulledCounts,
  })
  const first = initial.rounds[0].pull
  const initialTombstones = Object.values(first.counts).reduce((sum, counts) => sum + counts.deleted, 0)
  expect('initial sync carries no tombstones', initialTombstones === 0, { deleted: initialTombstones })
  expect('initial sync pushes nothing', initial.rounds.every((round) => round.push === null))
  expectCursorMonotonic('initial sync cursor never goes back', initial.rounds, null)

  if (options.mode === 'pull-only') {
    expectNoClientErrors(options, initial.clientErrors)
    return { mode: 'pull-only', pulled: pulledCounts, timestamp: initial.timestamp, rounds: initial.rounds.length }
  }

  const totalLocal = Object.values(pulledCounts).reduce((sum, count) => sum + count, 0)
  expect('initial sync brings records', totalLocal > 0, { counts: pulledCounts })

  // (c) local edits
  const table = options.table
  if (!db.schema.tables[table]) throw new ContractError(`--table ${table} is not in the server schema`)
  const pulledInTable = (await listRaw(db, table)).map((raw) => raw.id)

  const created = await createRecord(db, table, options.createValues)
  emit({ step: 'create', table, id: created.id, values: options.createValues })
  const expected = { [created.id]: { table, values: { ...options.createValues } } }
  const pushedIds = [{ table, id: created.id, list: 'created' }]

  if (options.updateValues) {
    // Prefer an already-synced record (gives an `updated` push with `_changed`); with none in the
    // table, edit the record just created (it stays `created`, its values change before push).
    let updateId = options.updateId ?? pulledInTable.find((id) => id !== options.deleteId)
    let target = 'pulled'
    if (!updateId) {
      updateId = created.id
      target = 'created'
    }
    const updated = await updateRecord(db, table, updateId, options.updateValues)
    emit({
      step: 'update',
      table,
      id: updateId,
      target,
      values: options.updateValues,
      local_status: updated._status,
      local_changed: updated._changed,
    })
    expected[updateId] = { table, values: { ...(expected[updateId]?.values ?? {}), ...options.updateValues } }
    if (target === 'pulled') pushedIds.push({ table, id: updateId, list: 'updated' })
  }

  let deleted = null
  if (options.deleteId) {
    const existing = await findRaw(db, options.deleteTable, options.deleteId)
    if (expect('record to delete was pulled', existing !== null, { table: options.deleteTable, id: options.deleteId })) {
      await deleteRecord(db, options.deleteTable, options.deleteId)
      deleted = { table: options.deleteTable, id: options.deleteId }
      emit({ step: 'delete', ...deleted })
      pushedIds.push({ ...deleted, list: 'deleted' })
    }
  }

  // (d) sync: push our edits
  const pushSync = await syncUntilDone(db, connection)
  const pushRound = pushSync.rounds.find((round) => round.push !== null)
  const rejected = rejectedIdsOf(pushSync)
  emit({
    step: 'push_sync',
    rounds: roundsSummary(pushSync),
    pushed: pushSync.pushed,
    pushed_status: pushRound ? statusFields(pushRound.push.body.changes) : null,
    rejected_ids: rejected,
    rejections: pushSync.rounds.flatMap((round) => round.push?.response?.rejections ?? []),
    conflicts: pushSync.rounds.flatMap((round) => round.push?.response?.conflicts ?? []),
  })
  expectCursorMonotonic('push sync cursor never goes back', pushSync.rounds, initial.timestamp)
  const pushedFound = pushRound ? idsIn(pushRound.push.ids) : []
  const missing = pushedIds.filter(
    (want) => !pushedFound.some((got) => got.table === want.table && got.id === want.id && got.list === want.list),
  )
  expect('push carries our edits', missing.length === 0, { missing })
  expect('push has no rejected ids', Object.keys(rejected).length === 0, { rejected })
  expect('nothing left to push', !(await hasUnsyncedChanges({ database: db })))

  // (e) sync again: our own writes must not come back
  const echoSync = await syncUntilDone(db, connection)
  const lastPull = echoSync.rounds.at(-1).pull
  const echoed = echoSync.rounds
    .flatMap((round) => idsIn(round.pull.ids))
    .filter((got) => pushedIds.some((want) => want.table === got.table && want.id === got.id))
  emit({
    step: 'echo_sync',
    rounds: roundsSummary(echoSync),
    changes: echoSync.pulled,
    total: echoSync.pulledTotal,
    echoed,
  })
  expectCursorMonotonic('echo sync cursor never goes back', echoSync.rounds, pushSync.timestamp)
  expect('pull does not echo our pushed records', echoed.length === 0, { echoed })
  expect('echo sync pushes nothing', echoSync.rounds.every((round) => round.push === null))

  // Local state after the round trip
  const local = {}
  for (const [id, { table: recordTable, values }] of Object.entries(expected)) {
    const raw = await findRaw(db, recordTable, id)
    const differing = raw
      ? Object.entries(values).filter(([name, value]) => raw[name] !== value).map(([name]) => name)
      : null
    local[id] = raw ? { status: raw._status, differing } : null
    expect(`local ${recordTable}#${id} kept our values and is synced`, raw && raw._status === 'synced' && differing.length === 0, local[id])
  }
  if (deleted) {
    const raw = await findRaw(db, deleted.table, deleted.id)
    expect(`local ${deleted.table}#${deleted.id} is gone`, raw === null)
  }
  expectNoClientErrors(options, [...initial.clientErrors, ...pushSync.clientErrors, ...echoSync.clientErrors])

  return {
    mode: 'full',
    pulled: pulledCounts,
    pushed: pushSync.pushed,
    last_pull_changes: lastPull.total,
    echo_pull_changes: echoSync.pulledTotal,
    created_id: created.id,
    timestamp: echoSync.timestamp,
  }
}

function statusFields(changes) {
  // What the client sent as sync metadata, per table and list (e.g. {"checks": {"created": [["created", ""]]}})
  const out = {}
  for (const [table, lists] of Object.entries(changes)) {
    for (const list of ['created', 'updated']) {
      if (lists[list].length) {
        out[table] ??= {}
        out[table][list] = lists[list].map((raw) => ({ id: raw.id, _status: raw._status, _changed: raw._changed }))
      }
    }
  }
  return out
}

function expectNoClientErrors(options, errors) {
  if (options.allowClientErrors) {
    emit({ step: 'client_errors', errors })
    return
  }
  expect('watermelondb logged no errors', errors.length === 0, { errors })
}

// ---------------------------------------------------------------------------------------------
// Driver mode: the test decides each step (see the header)

function syncSummary(result) {
  return {
    rounds: result.rounds.map(({ pull, push }) => ({
      last_pulled_at: pull.lastPulledAt,
      timestamp: pull.timestamp,
      has_more: pull.hasMore,
      strategy: pull.strategy,
      pulled: pull.counts,
      pulled_ids: pull.ids,
      push: push
        ? { last_pulled_at: push.lastPulledAt, ids: push.ids, status: statusFields(push.body.changes), response: push.response ?? null }
        : null,
    })),
    pulled: result.pulled,
    pushed: result.pushed,
    timestamp: result.timestamp,
    client_errors: result.clientErrors,
  }
}

async function drive(options) {
  const connection = { server: options.server, token: options.token, maxRounds: options.maxRounds }
  const schemaJson = await fetchSchema(connection)
  const db = await openDatabase(schemaJson, { appTimestamps: options.appTimestamps })
  const lineReader = createInterface({ input: process.stdin, crlfDelay: Infinity })
  const input = lineReader[Symbol.asyncIterator]()
  const nextCommand = async () => {
    for (;;) {
      const { value, done } = await input.next()
      if (done) return { op: 'exit' }
      if (value.trim()) return JSON.parse(value)
    }
  }

  const answer = async (command) => {
    try {
      emit({ ok: true, op: command.op, ...(await run(command)) })
    } catch (error) {
      const report = { ok: false, op: command.op, error: error.name, message: error.message }
      if (error instanceof ApiError) Object.assign(report, { status: error.status, code: error.code, details: error.details })
      emit(report)
    }
  }

  const run = async (command) => {
    switch (command.op) {
      case 'sync': {
        let paused = false
        const beforePush = command.pause_before_push
          ? async ({ changes, lastPulledAt }) => {
              if (paused) return
              paused = true
              emit({ event: 'before_push', last_pulled_at: lastPulledAt, ids: changeIdsOf(changes) })
              for (;;) {
                const inner = await nextCommand()
                if (inner.op === 'continue' || inner.op === 'exit') return
                await answer(inner)
              }
            }
          : undefined
        const syncOptions = { ...connection, beforePush }
        if (command.once) {
          const report = await syncOnce(db, syncOptions)
          const { pull, push } = report
          return syncSummary({
            rounds: [report],
            pulled: pull.counts,
            pushed: push ? push.counts : {},
            timestamp: pull.timestamp,
            clientErrors: report.clientErrors,
          })
        }
        return syncSummary(await syncUntilDone(db, syncOptions))
      }
      case 'create':
        return { record: await createRecord(db, command.table, command.values) }
      case 'update':
        return { record: await updateRecord(db, command.table, command.id, command.values) }
      case 'delete':
        await deleteRecord(db, command.table, command.id)
        return {}
      case 'find':
        return { record: await findRaw(db, command.table, command.id) }
      case 'list':
        return { records: await listRaw(db, command.table) }
      case 'set_server': // the phone now talks to another server process (same database)
        connection.server = command.server
        return {}
      case 'counts':
        return { counts: await countRecords(db) }
      case 'unsynced':
        return { unsynced: await hasUnsyncedChanges({ database: db }) }
      default:
        throw new Error(`unknown op ${JSON.stringify(command.op)}`)
    }
  }

  emit({ step: 'ready', version: schemaJson.version, tables: schemaJson.tables.map((table) => table.name) })
  for (;;) {
    const command = await nextCommand()
    if (command.op === 'exit') break
    await answer(command)
  }
  lineReader.close()
  return { mode: 'driver' }
}

function changeIdsOf(changes) {
  const ids = {}
  for (const [table, lists] of Object.entries(changes)) {
    ids[table] = {
      created: lists.created.map((raw) => raw.id),
      updated: lists.updated.map((raw) => raw.id),
      deleted: [...lists.deleted],
    }
  }
  return ids
}

async function main() {
  const options = parseOptions(process.argv.slice(2))
  let summary
  try {
    summary = options.mode === 'driver' ? await drive(options) : await run(options)
  } catch (error) {
    const report = { step: 'error', error: error.name, message: error.message }
    if (error instanceof ApiError) {
      Object.assign(report, { status: error.status, code: error.code, details: error.details, envelope_ok: error.envelopeOk })
    } else if (!(error instanceof ContractError)) {
      report.stack = error.stack
    }
    emit(report)
    failures.push(`error: ${error.message}`)
  }
  emit({ ok: failures.length === 0, ...(summary ?? {}), failures })
  process.exitCode = failures.length === 0 ? 0 : 1
}

await main()
