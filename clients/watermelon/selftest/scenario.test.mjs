// scenario.mjs, run as the Python tests will run it (a child process), against the mock server.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, test } from 'node:test'

import { startMockServer } from './mock_server.mjs'

const SCENARIO = fileURLToPath(new URL('../scenario.mjs', import.meta.url))
const TOKEN_A = 'token-device-a'

const CHECK_VALUES = {
  checkpoint_name: 'Tân Thanh',
  captured_at: 1_700_000_001_234,
  result: 'clear',
  note: 'đã kiểm tra',
}

let mock

beforeEach(async () => {
  mock = await startMockServer({ pageSize: 50 })
})

afterEach(async () => {
  await mock.close()
})

// Async on purpose: the mock server lives in this process and must keep answering.
function runScenario(args, { env = {} } = {}) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCENARIO, ...args],
      { env: { ...process.env, FIELDSYNC_SERVER: '', FIELDSYNC_TOKEN: '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const lines = stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line))
        resolve({ code: error ? error.code : 0, lines, summary: lines.at(-1), stderr })
      },
    )
  })
}

const step = (lines, name) => lines.find((line) => line.step === name)
const failedExpectations = (lines) => lines.filter((line) => line.step === 'expect' && !line.ok).map((l) => l.name)

function aPersonId() {
  return [...mock.state.rows.persons.keys()][7]
}

test('full scenario passes against a server that honours the contract', async () => {
  const personId = aPersonId()

  const { code, lines, summary, stderr } = await runScenario([
    '--server', mock.url, '--token', TOKEN_A,
    '--create-json', JSON.stringify(CHECK_VALUES),
    '--update-json', JSON.stringify({ result: 'detained' }),
    '--delete-table', 'persons', '--delete-id', personId,
  ])

  assert.equal(code, 0, stderr + JSON.stringify(failedExpectations(lines)))
  assert.equal(summary.ok, true)
  assert.deepEqual(summary.pulled, { persons: 120, checks: 3, photos: 0 })
  assert.deepEqual(summary.pushed, {
    persons: { created: 0, updated: 0, deleted: 1 },
    checks: { created: 1, updated: 1, deleted: 0 },
    photos: { created: 0, updated: 0, deleted: 0 },
  })
  assert.equal(summary.last_pull_changes, 0)
  assert.deepEqual(step(lines, 'initial_sync').rounds.map((round) => round.has_more), [true, true, false])
  // What reached the server
  assert.deepEqual({ ...mock.state.live('checks', summary.created_id), id: undefined }, { ...CHECK_VALUES, person_id: null, id: undefined })
  const updated = step(lines, 'update')
  assert.equal(mock.state.live('checks', updated.id).result, 'detained')
  assert.equal(mock.state.live('persons', personId), null)
  assert.match(summary.created_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
})

test('the push body is full raw rows with _status and _changed, and lists every table', async () => {
  const { code, lines } = await runScenario([
    '--server', mock.url, '--token', TOKEN_A,
    '--create-json', JSON.stringify(CHECK_VALUES),
    '--update-json', JSON.stringify({ note: 'sửa' }),
  ])

  assert.equal(code, 0)
  const pushes = mock.state.requests.filter((request) => request.path === '/api/v1/sync/push')
  assert.equal(pushes.length, 1)
  const { changes } = pushes[0].body
  assert.deepEqual(Object.keys(changes).sort(), ['checks', 'persons', 'photos'])
  assert.deepEqual(changes.photos, { created: [], updated: [], deleted: [] })
  const [created] = changes.checks.created
  assert.deepEqual(Object.keys(created).sort(), ['_changed', '_status', 'captured_at', 'checkpoint_name', 'id', 'note', 'person_id', 'result'])
  assert.equal(created._status, 'created')
  assert.equal(created._changed, '')
  const [updated] = changes.checks.updated
  assert.equal(updated._status, 'updated')
  assert.equal(updated._changed, 'note')
  // The push carries the cursor the same synchronize() just pulled (and saved), not the older one.
  assert.equal(pushes[0].query.last_pulled_at, String(step(lines, 'push_sync').rounds[0].timestamp))
})

test('update falls back to the new record when the table had nothing to pull', async () => {
  mock.state.write('server', () => {
    for (const id of [...mock.state.rows.checks.keys()]) mock.state.remove('checks', id)
  })

  const { code, lines, summary } = await runScenario([
    '--server', mock.url, '--token', TOKEN_A,
    '--create-json', JSON.stringify(CHECK_VALUES),
    '--update-json', JSON.stringify({ result: 'detained' }),
  ])

  assert.equal(code, 0, JSON.stringify(failedExpectations(lines)))
  assert.equal(step(lines, 'update').target, 'created')
  assert.equal(mock.state.live('checks', summary.created_id).result, 'detained')
})

test('pull-only mode reports the same counts as the server holds', async () => {
  mock.state.serverDelete('persons', aPersonId())

  const { code, summary } = await runScenario(['--mode', 'pull-only', '--server', mock.url, '--token', TOKEN_A])

  assert.equal(code, 0)
  assert.deepEqual(summary.pulled, mock.state.liveCounts())
  assert.deepEqual(summary.pulled, { persons: 119, checks: 3, photos: 0 })
})

test('server and token can come from the environment', async () => {
  const { code, summary } = await runScenario(['--mode', 'pull-only'], {
    env: { FIELDSYNC_SERVER: mock.url, FIELDSYNC_TOKEN: TOKEN_A },
  })

  assert.equal(code, 0)
  assert.equal(summary.ok, true)
})

test('fails when the server echoes the device its own writes', async () => {
  mock.state.knobs.echo = true

  const { code, lines, summary } = await runScenario([
    '--server', mock.url, '--token', TOKEN_A, '--create-json', JSON.stringify(CHECK_VALUES),
  ])

  assert.equal(code, 1)
  assert.equal(summary.ok, false)
  // The echoed record arrives as `created` for an id the device has: WatermelonDB logs an error too.
  assert.deepEqual(failedExpectations(lines), ['pull does not echo our pushed records', 'watermelondb logged no errors'])
  const logged = lines.find((line) => line.name === 'watermelondb logged no errors').detail.errors
  assert.match(logged[0], /wants client to create record checks#.* but it already exists locally/)
  assert.deepEqual(step(lines, 'echo_sync').echoed, [{ table: 'checks', list: 'created', id: summary.created_id }])
})

test('fails when the push rejects a record', async () => {
  const { code, lines } = await runScenario([
    '--server', mock.url, '--token', TOKEN_A,
    '--create-json', JSON.stringify({ ...CHECK_VALUES, note: '__REJECT__' }),
  ])

  assert.equal(code, 1)
  assert.ok(failedExpectations(lines).includes('push has no rejected ids'))
  assert.ok(failedExpectations(lines).includes('nothing left to push'))
  assert.equal(step(lines, 'push_sync').rejections[0].code, 'rejected_for_test')
})

test('fails with the error envelope on a bad token', async () => {
  const { code, lines, summary } = await runScenario(['--mode', 'pull-only', '--server', mock.url, '--token', 'nope'])

  assert.equal(code, 1)
  assert.equal(summary.ok, false)
  const error = step(lines, 'error')
  assert.equal(error.status, 401)
  assert.equal(error.code, 'auth_token_invalid')
  assert.equal(error.envelope_ok, true)
})

test('fails when a pull breaks the contract (records carrying _status)', async () => {
  mock.state.knobs.corruptPull = (response) => {
    for (const raw of response.changes.persons.created) raw._status = 'synced'
  }

  const { code, lines } = await runScenario(['--mode', 'pull-only', '--server', mock.url, '--token', TOKEN_A])

  assert.equal(code, 1)
  assert.equal(step(lines, 'error').error, 'ContractError')
  assert.match(step(lines, 'error').message, /carries _status\/_changed/)
})

test('fails when a pull timestamp is not an integer', async () => {
  mock.state.knobs.corruptPull = (response) => {
    response.timestamp = String(response.timestamp)
  }

  const { code, lines } = await runScenario(['--mode', 'pull-only', '--server', mock.url, '--token', TOKEN_A])

  assert.equal(code, 1)
  assert.match(step(lines, 'error').message, /timestamp must be a positive safe integer/)
})

test('bad arguments exit 2', async () => {
  const { code } = await runScenario(['--server', mock.url, '--token', TOKEN_A]) // full mode needs --create-json

  assert.equal(code, 2)
})
