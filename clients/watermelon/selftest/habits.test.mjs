// What @nozbe/watermelondb 0.28 actually does on the wire and with what the server answers.
// Each test pins one habit the server must live with (README.md lists them). They run the real
// client through lib/client.mjs against the mock server, bending the mock's answers with knobs.

import assert from 'node:assert/strict'
import { afterEach, beforeEach, test } from 'node:test'

import {
  ApiError,
  clientLog,
  createRecord,
  deleteRecord,
  findRaw,
  hasUnsyncedChanges,
  openDatabase,
  syncOnce,
  syncUntilDone,
  updateRecord,
} from '../lib/client.mjs'
import { MOCK_SCHEMA, startMockServer } from './mock_server.mjs'

const CHECK = { checkpoint_name: 'Chi Ma', captured_at: 1_700_000_000_999, result: 'clear', note: null }

let mock
let connection
let db

beforeEach(async () => {
  mock = await startMockServer({ pageSize: 1000 })
  connection = { server: mock.url, token: 'token-device-a' }
  db = await openDatabase(MOCK_SCHEMA)
  await syncUntilDone(db, connection)
  mock.state.requests.length = 0
})

afterEach(async () => {
  await mock.close()
})

const requests = (path) => mock.state.requests.filter((request) => request.path === `/api/v1/sync/${path}`)
const somePersonId = (index = 0) => [...mock.state.rows.persons.keys()][index]

function errorsDuring(fn) {
  return async () => {
    const before = clientLog.errors.length
    await fn()
    return clientLog.errors.slice(before)
  }
}

test('no push request at all when nothing changed locally', async () => {
  await syncOnce(db, connection)

  assert.equal(requests('pull').length, 1)
  assert.equal(requests('push').length, 0)
})

test('first pull sends last_pulled_at=null, migration=null and the schema version', async () => {
  const fresh = await openDatabase(MOCK_SCHEMA)

  await syncOnce(fresh, connection)

  assert.deepEqual(requests('pull')[0].query, { last_pulled_at: 'null', schema_version: '3', migration: 'null' })
})

test('the pulled cursor is saved before the push: a failed push does not roll it back', async () => {
  const { id } = await createRecord(db, 'checks', CHECK)
  mock.state.knobs.failPush = 1

  await assert.rejects(syncOnce(db, connection), (error) => error instanceof ApiError && error.status === 503)
  const failedCursor = requests('push')[0].query.last_pulled_at
  await syncOnce(db, connection)

  // second sync pulls FROM the cursor of the sync whose push failed, then re-pushes the record
  assert.equal(requests('pull')[1].query.last_pulled_at, failedCursor)
  assert.equal(requests('push').length, 2)
  assert.deepEqual(requests('push')[1].body.changes.checks.created.map((raw) => raw.id), [id])
  assert.equal((await findRaw(db, 'checks', id))._status, 'synced')
})

test('only experimentalRejectedIds is read: a rejected record stays dirty and is pushed again', async () => {
  const { id } = await createRecord(db, 'checks', { ...CHECK, note: '__REJECT__' })

  const report = await syncOnce(db, connection)
  await syncOnce(db, connection)

  assert.deepEqual(report.push.response.experimentalRejectedIds, { checks: [id] })
  assert.equal((await findRaw(db, 'checks', id))._status, 'created')
  assert.deepEqual(requests('push')[1].body.changes.checks.created.map((raw) => raw.id), [id])
})

test('only experimentalRejectedIds is read: rejections/conflicts alone do not keep a record dirty', async () => {
  const { id } = await createRecord(db, 'checks', { ...CHECK, note: '__REJECT__' })
  mock.state.knobs.corruptPush = (response) => {
    response.experimentalRejectedIds = {}
  }

  const report = await syncOnce(db, connection)

  assert.equal(report.push.response.rejections[0].id, id)
  assert.equal((await findRaw(db, 'checks', id))._status, 'synced') // the client believes it was accepted
  assert.equal(await hasUnsyncedChanges({ database: db }), false)
})

test('a remote delete wins over pending local edits, which are never pushed', async () => {
  const id = somePersonId()
  await updateRecord(db, 'persons', id, { note: 'local edit' })
  mock.state.serverDelete('persons', id)

  await syncOnce(db, connection)

  assert.equal(await findRaw(db, 'persons', id), null)
  assert.equal(requests('push').length, 0)
})

test('a remote delete also destroys a record the device created and has not pushed yet', async () => {
  const { id } = await createRecord(db, 'checks', CHECK)
  mock.state.knobs.corruptPull = (response) => response.changes.checks.deleted.push(id)

  await syncOnce(db, { ...connection, strict: false })

  assert.equal(await findRaw(db, 'checks', id), null)
  assert.equal(requests('push').length, 0)
})

test('`updated` for a record the device does not have: created locally, and an error is logged', async () => {
  const id = '6f1c6f0e-0000-4000-8000-000000000001'
  mock.state.serverUpsert('checks', { id, ...CHECK })
  mock.state.knobs.corruptPull = (response) => {
    response.changes.checks.updated.push(...response.changes.checks.created)
    response.changes.checks.created = []
  }

  const errors = await errorsDuring(() => syncOnce(db, connection))()

  assert.equal((await findRaw(db, 'checks', id))._status, 'synced')
  assert.equal(errors.length, 1)
  assert.match(errors[0], /wants client to update record checks#6f1c6f0e-0000-4000-8000-000000000001, but it doesn't exist locally/)
})

test('`created` for a record the device already has: updated instead, and an error is logged', async () => {
  const id = somePersonId()
  mock.state.serverUpsert('persons', { id, note: 'from server' })
  mock.state.knobs.corruptPull = (response) => {
    response.changes.persons.created.push(...response.changes.persons.updated)
    response.changes.persons.updated = []
  }

  const errors = await errorsDuring(() => syncOnce(db, connection))()

  assert.equal((await findRaw(db, 'persons', id)).note, 'from server')
  assert.match(errors[0], /wants client to create record persons#.*, but it already exists locally/)
})

test('`updated` for a locally deleted record is ignored and the delete is pushed', async () => {
  const id = somePersonId()
  await deleteRecord(db, 'persons', id)
  mock.state.serverUpsert('persons', { id, note: 'from server' })

  await syncOnce(db, connection)

  assert.deepEqual(requests('push')[0].body.changes.persons.deleted, [id])
  assert.equal(mock.state.live('persons', id), null)
})

test('`created` for a locally deleted record drops the local delete: it is recreated and never pushed', async () => {
  const id = somePersonId()
  await deleteRecord(db, 'persons', id)
  mock.state.serverUpsert('persons', { id, note: 'from server' })
  mock.state.knobs.corruptPull = (response) => {
    response.changes.persons.created.push(...response.changes.persons.updated)
    response.changes.persons.updated = []
  }

  const errors = await errorsDuring(() => syncOnce(db, connection))()

  assert.equal((await findRaw(db, 'persons', id))._status, 'synced')
  assert.equal(requests('push').length, 0)
  assert.match(errors[0], /marked as deleted.*Will delete local record and recreate it/)
})

test('a remote delete of a locally deleted record drops the local delete (nothing pushed)', async () => {
  const id = somePersonId()
  await deleteRecord(db, 'persons', id)
  mock.state.serverDelete('persons', id)

  await syncOnce(db, connection)

  assert.equal(requests('push').length, 0)
})

test('_status/_changed as pushed: created => "created"/"" ; updated => "updated"/changed columns', async () => {
  const fresh = await createRecord(db, 'checks', CHECK)
  const editedNew = await createRecord(db, 'checks', CHECK)
  await updateRecord(db, 'checks', editedNew.id, { result: 'detained' })
  const pulled = somePersonId()
  await updateRecord(db, 'persons', pulled, { note: 'a', birth_year: 1901 })
  await updateRecord(db, 'persons', pulled, { note: 'b' })

  await syncOnce(db, connection)

  const { changes } = requests('push')[0].body
  const meta = (raw) => [raw.id, raw._status, raw._changed]
  assert.deepEqual(
    changes.checks.created.map(meta).sort(),
    [[fresh.id, 'created', ''], [editedNew.id, 'created', 'result']].sort(),
  )
  assert.deepEqual(changes.persons.updated.map(meta), [[pulled, 'updated', 'note,birth_year']])
  // full rows: every column is sent, not only the changed ones
  assert.deepEqual(Object.keys(changes.persons.updated[0]).sort(), ['_changed', '_status', 'birth_year', 'commune_code', 'full_name', 'id', 'is_wanted', 'note'])
})

test('a delete of a record created and never pushed is still pushed as a delete', async () => {
  const { id } = await createRecord(db, 'checks', CHECK)
  await deleteRecord(db, 'checks', id)

  await syncOnce(db, connection)

  assert.deepEqual(requests('push')[0].body.changes.checks.deleted, [id])
  assert.deepEqual(requests('push')[0].body.changes.checks.created, [])
})

test('same field changed remotely and locally: local wins on pull, push carries the NEW cursor', async () => {
  const id = somePersonId()
  await updateRecord(db, 'persons', id, { note: 'device' })
  mock.state.serverUpsert('persons', { id, note: 'server', full_name: 'Renamed By Registry' })

  const report = await syncOnce(db, connection)

  const pushed = requests('push')[0]
  assert.equal(pushed.body.changes.persons.updated[0].note, 'device')
  assert.equal(pushed.body.changes.persons.updated[0].full_name, 'Renamed By Registry') // remote kept for untouched columns
  assert.equal(pushed.body.changes.persons.updated[0]._changed, 'note')
  // the push's last_pulled_at already covers the server's change to `note`
  assert.equal(pushed.query.last_pulled_at, String(report.pull.timestamp))
  assert.ok(report.log.resolvedConflicts.length === 1)
})

test('replacement: records missing from the response are destroyed unless locally created', async () => {
  const keep = somePersonId(0)
  const editedGone = somePersonId(1)
  const deletedGone = somePersonId(2)
  await updateRecord(db, 'persons', editedGone, { note: 'pending edit' })
  await deleteRecord(db, 'persons', deletedGone)
  const { id: createdLocally } = await createRecord(db, 'checks', CHECK)
  mock.state.knobs.corruptPull = (response) => {
    response.experimentalStrategy = 'replacement'
    response.changes = {
      persons: { created: [{ ...mock.state.live('persons', keep) }], updated: [], deleted: [] },
      checks: { created: [], updated: [], deleted: [] },
    }
  }

  await syncOnce(db, connection)

  assert.notEqual(await findRaw(db, 'persons', keep), null)
  assert.equal(await findRaw(db, 'persons', editedGone), null) // pending edit lost before push
  assert.equal(await findRaw(db, 'checks', createdLocally) !== null, true)
  const { changes } = requests('push')[0].body
  assert.deepEqual(changes.persons, { created: [], updated: [], deleted: [] }) // edit AND delete dropped
  assert.deepEqual(changes.checks.created.map((raw) => raw.id), [createdLocally])
  assert.equal(await db.get('persons').query().fetchCount(), 1)
})

test('a pulled record with _status/_changed makes synchronize() throw', async () => {
  mock.state.serverUpsert('persons', { id: somePersonId(), note: 'x' })
  mock.state.knobs.corruptPull = (response) => {
    response.changes.persons.updated[0]._changed = ''
  }

  await assert.rejects(syncOnce(db, { ...connection, strict: false }), /must NOT have a '_status' or '_changed' fields/)
})

test('a non-integer or zero timestamp makes synchronize() throw', async () => {
  mock.state.knobs.corruptPull = (response) => {
    response.timestamp = 0
  }

  await assert.rejects(syncOnce(db, { ...connection, strict: false }), /timestamp must be a non-zero number/)
})

test('a numeric id is silently replaced by a random one (the contract check catches it)', async () => {
  mock.state.knobs.corruptPull = (response) => {
    response.changes.checks.created.push({ id: 12345, ...CHECK })
  }

  await assert.rejects(syncOnce(db, connection), /id must be a string/)
  const loose = await openDatabase(MOCK_SCHEMA)
  await syncOnce(loose, { ...connection, strict: false })
  const ids = (await loose.get('checks').query().fetch()).map((record) => record.id)
  assert.ok(!ids.includes('12345') && ids.length === 4)
})

test('wrong-typed values are silently coerced (the contract check catches it)', async () => {
  const id = somePersonId()
  mock.state.serverUpsert('persons', { id, is_wanted: 'yes', birth_year: '1970' })

  await assert.rejects(syncOnce(db, connection), /is_wanted must be boolean.*birth_year must be number|birth_year must be number.*is_wanted must be boolean/)
  await syncOnce(db, { ...connection, strict: false })
  const raw = await findRaw(db, 'persons', id)
  assert.equal(raw.is_wanted, false)
  assert.equal(raw.birth_year, null)
})

test('an unknown table in a pull is skipped with a warning, not an error', async () => {
  mock.state.knobs.corruptPull = (response) => {
    response.changes.future_table = { created: [{ id: 'x1' }], updated: [], deleted: [] }
  }
  const warningsBefore = clientLog.warnings.length

  await syncOnce(db, connection)

  assert.match(clientLog.warnings.slice(warningsBefore).join('\n'), /future_table/)
})

test('a pushed record changed locally while the push was in flight stays dirty', async () => {
  const { id } = await createRecord(db, 'checks', CHECK)
  const originalFetch = globalThis.fetch
  globalThis.fetch = async (url, init) => {
    if (String(url).includes('/sync/push')) await updateRecord(db, 'checks', id, { note: 'during push' })
    return originalFetch(url, init)
  }
  try {
    await syncOnce(db, connection)
  } finally {
    globalThis.fetch = originalFetch
  }

  const raw = await findRaw(db, 'checks', id)
  assert.equal(raw._status, 'created')
  assert.equal(raw.note, 'during push')
})

test('stale cursor done safely: empty page + has_more first, so pending edits are pushed before the replacement', async () => {
  // What the mock does for an unknown cursor (see mock_server.mjs pull()); a suggestion for the server.
  const { id: createdId } = await createRecord(db, 'checks', CHECK)
  const edited = somePersonId(3)
  await updateRecord(db, 'persons', edited, { note: 'edited offline' })
  mock.state.checkpoints.clear() // the server no longer knows the device's cursor
  mock.state.serverDelete('persons', somePersonId(4)) // and something changed meanwhile
  mock.state.pageSize = 50 // the replacement itself is paged; only its first page says "replacement"

  const result = await syncUntilDone(db, connection)

  // A replacement cannot know what the device holds: the 50 records of its first page that the
  // device already had arrive as `created`, and WatermelonDB logs one (recoverable) error for each.
  assert.equal(result.clientErrors.length, 50)
  assert.ok(result.clientErrors.every((text) => /wants client to create record .*, but it already exists locally\./.test(text)))
  assert.deepEqual(
    result.rounds.map(({ pull, push }) => [pull.strategy, pull.total, pull.hasMore, push ? push.total : 0]),
    [[null, 0, true, 2], ['replacement', 50, true, 0], [null, 50, true, 0], [null, 23, false, 0]],
  )
  assert.equal(mock.state.live('persons', edited).note, 'edited offline')
  assert.notEqual(mock.state.live('checks', createdId), null)
  const local = {}
  for (const table of ['persons', 'checks', 'photos']) local[table] = await db.get(table).query().fetchCount()
  assert.deepEqual(local, mock.state.liveCounts())
  assert.equal((await findRaw(db, 'persons', edited)).note, 'edited offline')
  assert.equal(await hasUnsyncedChanges({ database: db }), false)
})

test('has_more with pending edits: the push happens after the FIRST page, with that page\'s cursor', async () => {
  const fresh = await openDatabase(MOCK_SCHEMA)
  mock.state.pageSize = 50
  await syncOnce(fresh, connection) // page 1 of 3 of the initial sync
  const { id } = await createRecord(fresh, 'checks', CHECK)

  const result = await syncUntilDone(fresh, connection)

  assert.deepEqual(result.rounds.map(({ push }) => (push ? push.total : 0)), [1, 0])
  assert.equal(requests('push')[0].query.last_pulled_at, String(result.rounds[0].pull.timestamp))
  assert.notEqual(mock.state.live('checks', id), null)
})
