// scenario.mjs --mode driver: the step-by-step protocol the Python tests use to interleave
// server-side writes with the device's syncs (run against the mock server).

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, test } from 'node:test'

import { startMockServer } from './mock_server.mjs'

const SCENARIO = fileURLToPath(new URL('../scenario.mjs', import.meta.url))
const CHECK_VALUES = { checkpoint_name: 'Chi Ma', captured_at: 1_700_000_009_876, result: 'clear', note: null }

let mock

beforeEach(async () => {
  mock = await startMockServer({ pageSize: 50 })
})

afterEach(async () => {
  await mock.close()
})

function startDriver() {
  const child = spawn(process.execPath, [SCENARIO, '--mode', 'driver', '--server', mock.url, '--token', 'token-device-a'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const read = async () => JSON.parse((await lines.next()).value)
  const send = (command) => child.stdin.write(`${JSON.stringify(command)}\n`)
  const call = async (command) => {
    send(command)
    return read()
  }
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  return { read, send, call, exited }
}

test('driver mode syncs, edits and pauses before a push on command', async () => {
  const driver = startDriver()
  assert.equal((await driver.read()).step, 'ready')

  const initial = await driver.call({ op: 'sync' })
  assert.equal(initial.ok, true)
  assert.deepEqual(initial.pulled.checks, { created: 3, updated: 0, deleted: 0 })
  const created = await driver.call({ op: 'create', table: 'checks', values: CHECK_VALUES })
  assert.equal(created.record._status, 'created')

  driver.send({ op: 'sync', pause_before_push: true })
  const paused = await driver.read()
  assert.equal(paused.event, 'before_push')
  assert.deepEqual(paused.ids.checks.created, [created.record.id])
  // While paused the server changes a record, and the device may still run commands.
  const checkId = [...mock.state.rows.checks.keys()][0]
  mock.state.serverUpsert('checks', { id: checkId, result: 'detained' })
  assert.equal((await driver.call({ op: 'unsynced' })).unsynced, true)
  driver.send({ op: 'continue' })
  const pushed = await driver.read()
  assert.equal(pushed.ok, true)
  assert.deepEqual(pushed.rounds[0].push.ids.checks.created, [created.record.id])
  assert.deepEqual(pushed.rounds[0].push.response.experimentalRejectedIds, {})
  assert.equal(mock.state.live('checks', created.record.id).checkpoint_name, 'Chi Ma')

  const next = await driver.call({ op: 'sync', once: true })
  assert.deepEqual(next.rounds[0].pulled_ids.checks.updated, [checkId])
  assert.equal((await driver.call({ op: 'find', table: 'checks', id: checkId })).record.result, 'detained')
  const bad = await driver.call({ op: 'update', table: 'checks', id: 'missing', values: {} })
  assert.equal(bad.ok, false)

  driver.send({ op: 'exit' })
  const summary = await driver.read()
  assert.equal(summary.ok, true)
  assert.equal(await driver.exited, 0)
})
