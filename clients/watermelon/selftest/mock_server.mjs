// A tiny in-memory implementation of the fieldsync sync contract, ONLY to test the harness
// (scenario.mjs, lib/client.mjs) before and independently of the real server. It is not a model
// of the real engine: one version per row, no scopes, no field policies.
//
//   import { startMockServer } from './mock_server.mjs'
//   const mock = await startMockServer({ pageSize: 50 })   // mock.url, mock.tokens, mock.state
//
// or from a shell:  node selftest/mock_server.mjs [--port 8765]   (prints {"url","tokens"})
//
// Contract implemented:
//   GET  /api/v1/sync/schema
//   GET  /api/v1/sync/pull?last_pulled_at=<int|null>&schema_version=<int>&migration=<json|null>
//   POST /api/v1/sync/push?last_pulled_at=<int>   body {"changes": {...}}
//   every request: Authorization: Bearer <token>; every error: {"code","message","details"}
//
// Cursors are opaque checkpoint ids (positive integers), as in the real design: a checkpoint
// stores the change sequence it covers and, for a paged initial sync, the remaining ids.
// Push in a record whose string column equals "__REJECT__" to get it rejected (per record).

import http from 'node:http'
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'

export const MOCK_SCHEMA = {
  version: 3,
  tables: [
    {
      name: 'persons',
      columns: [
        { name: 'full_name', type: 'string', isOptional: false, isIndexed: false },
        { name: 'birth_year', type: 'number', isOptional: true, isIndexed: false },
        { name: 'commune_code', type: 'string', isOptional: false, isIndexed: true },
        { name: 'is_wanted', type: 'boolean', isOptional: false, isIndexed: false },
        { name: 'note', type: 'string', isOptional: true, isIndexed: false },
      ],
    },
    {
      name: 'checks',
      columns: [
        { name: 'person_id', type: 'string', isOptional: true, isIndexed: true },
        { name: 'checkpoint_name', type: 'string', isOptional: false, isIndexed: false },
        { name: 'captured_at', type: 'number', isOptional: false, isIndexed: false },
        { name: 'result', type: 'string', isOptional: false, isIndexed: false },
        { name: 'note', type: 'string', isOptional: true, isIndexed: false },
      ],
    },
    {
      name: 'photos',
      columns: [
        { name: 'sha256', type: 'string', isOptional: false, isIndexed: true },
        { name: 'record_table', type: 'string', isOptional: false, isIndexed: false },
        { name: 'record_id', type: 'string', isOptional: false, isIndexed: true },
      ],
    },
  ],
}

const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

class HttpError extends Error {
  constructor(status, code, message, details = {}) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

export function seedRows({ persons = 120, checks = 3 } = {}) {
  const rows = { persons: [], checks: [], photos: [] }
  for (let i = 0; i < persons; i += 1) {
    rows.persons.push({
      id: randomUUID(),
      full_name: `Nguyễn Văn ${i}`,
      birth_year: 1960 + (i % 40),
      commune_code: `C${String(i % 7).padStart(3, '0')}`,
      is_wanted: i % 10 === 0,
      note: null,
    })
  }
  for (let i = 0; i < checks; i += 1) {
    rows.checks.push({
      id: randomUUID(),
      person_id: rows.persons[i % Math.max(persons, 1)]?.id ?? null,
      checkpoint_name: 'Hữu Nghị',
      captured_at: 1_700_000_000_000 + i,
      result: 'clear',
      note: null,
    })
  }
  return rows
}

export class MockSyncState {
  constructor({ schema = MOCK_SCHEMA, seed = seedRows(), pageSize = 50, tokens } = {}) {
    this.schema = schema
    this.pageSize = pageSize
    this.tokens = tokens ?? { 'token-device-a': 'device-a', 'token-device-b': 'device-b' }
    this.columns = Object.fromEntries(
      schema.tables.map((table) => [table.name, Object.fromEntries(table.columns.map((c) => [c.name, c]))]),
    )
    this.head = 0 // change sequence
    this.rows = Object.fromEntries(schema.tables.map((table) => [table.name, new Map()]))
    this.checkpoints = new Map() // id -> { device, seq, pending: [{table,id}] | null }
    this.nextCheckpointId = 1
    this.requests = [] // {method, path, query, device, body?}
    // Knobs for negative tests of the harness
    this.knobs = { echo: false, corruptPull: null, corruptPush: null, failPush: 0 }
    this.write(null, () => {
      for (const [table, rows] of Object.entries(seed)) for (const row of rows) this.upsert(table, row, null)
    })
  }

  // One "transaction": every change inside gets the same sequence number.
  write(device, apply) {
    this.head += 1
    this._seq = this.head
    this._device = device
    try {
      return apply()
    } finally {
      this._seq = null
    }
  }

  upsert(table, values, device = this._device) {
    const existing = this.rows[table].get(values.id)
    const row = { ...(existing?.row ?? {}), ...values }
    this.rows[table].set(values.id, {
      row,
      createdSeq: existing && !existing.deleted ? existing.createdSeq : this._seq,
      seq: this._seq,
      deleted: false,
      writer: device,
    })
  }

  remove(table, id, device = this._device) {
    const existing = this.rows[table].get(id)
    if (!existing || existing.deleted) return false
    existing.deleted = true
    existing.seq = this._seq
    existing.writer = device
    return true
  }

  /** Server-side edits (as if another officer or the registry bridge wrote them). */
  serverUpsert(table, values) {
    this.write('server', () => this.upsert(table, values))
  }

  serverDelete(table, id) {
    this.write('server', () => this.remove(table, id))
  }

  liveCounts() {
    return Object.fromEntries(
      Object.entries(this.rows).map(([table, rows]) => [table, [...rows.values()].filter((r) => !r.deleted).length]),
    )
  }

  live(table, id) {
    const entry = this.rows[table].get(id)
    return entry && !entry.deleted ? entry.row : null
  }

  emptyChanges() {
    return Object.fromEntries(Object.keys(this.rows).map((table) => [table, { created: [], updated: [], deleted: [] }]))
  }

  issueCheckpoint(device, seq, { pending = null, replacementDue = false } = {}) {
    const id = this.nextCheckpointId++
    this.checkpoints.set(id, { device, seq, pending, replacementDue })
    return id
  }

  pull(device, query) {
    const lastPulledAtText = query.get('last_pulled_at')
    const schemaVersion = Number(query.get('schema_version'))
    if (!Number.isInteger(schemaVersion) || schemaVersion < 1) {
      throw new HttpError(400, 'invalid_request', 'schema_version must be a positive integer')
    }
    const migration = query.get('migration')
    if (migration !== null && migration !== 'null') JSON.parse(migration) // must at least be JSON
    let checkpoint = null
    if (lastPulledAtText !== null && lastPulledAtText !== 'null') {
      if (!/^\d+$/.test(lastPulledAtText)) {
        throw new HttpError(400, 'invalid_request', 'last_pulled_at must be an integer or null')
      }
      checkpoint = this.checkpoints.get(Number(lastPulledAtText))
      if (!checkpoint || checkpoint.device !== device) {
        // Unknown or foreign cursor: the device must be replaced, but synchronize() pulls BEFORE
        // it pushes and a replacement destroys pending local edits. So first answer "nothing yet,
        // has_more": the device saves this cursor and pushes what it has; its next pull gets the
        // replacement.
        const timestamp = this.issueCheckpoint(device, this.head, { replacementDue: true })
        return this.finish({ changes: this.emptyChanges(), timestamp, has_more: true })
      }
    }

    let response
    if (checkpoint === null || checkpoint.pending || checkpoint.replacementDue) {
      // Initial sync, replacement, or a next page of either: a snapshot taken at the first page,
      // sent in pages of pageSize ids, everything as `created`, no tombstones. Only the FIRST page
      // of a replacement says so: every response marked "replacement" makes the client destroy
      // the local records that are not in that response.
      const snapshotSeq = checkpoint?.pending ? checkpoint.seq : this.head
      const pending =
        checkpoint?.pending ??
        Object.entries(this.rows).flatMap(([table, rows]) =>
          [...rows.entries()].filter(([, entry]) => !entry.deleted).map(([id]) => ({ table, id })),
        )
      const page = pending.slice(0, this.pageSize)
      const rest = pending.slice(this.pageSize)
      const changes = this.emptyChanges()
      for (const { table, id } of page) {
        const row = this.live(table, id)
        if (row) changes[table].created.push({ ...row })
      }
      const timestamp = this.issueCheckpoint(device, snapshotSeq, { pending: rest.length ? rest : null })
      response = { changes, timestamp, has_more: rest.length > 0 }
      if (checkpoint?.replacementDue) response.experimentalStrategy = 'replacement'
    } else {
      // Incremental: everything after the checkpoint's sequence, minus this device's own writes.
      const changes = this.emptyChanges()
      for (const [table, rows] of Object.entries(this.rows)) {
        for (const [id, entry] of rows.entries()) {
          if (entry.seq <= checkpoint.seq) continue
          if (entry.writer === device && !this.knobs.echo) continue // echo suppression
          if (entry.deleted) {
            if (entry.createdSeq <= checkpoint.seq) changes[table].deleted.push(id)
          } else if (entry.createdSeq > checkpoint.seq) {
            changes[table].created.push({ ...entry.row })
          } else {
            changes[table].updated.push({ ...entry.row })
          }
        }
      }
      response = { changes, timestamp: this.issueCheckpoint(device, this.head), has_more: false }
    }
    return this.finish(response)
  }

  finish(response) {
    if (this.knobs.corruptPull) this.knobs.corruptPull(response)
    return response
  }

  validateRecord(table, raw) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return ['invalid_record', 'record is not an object']
    if (typeof raw.id !== 'string' || !ID_PATTERN.test(raw.id)) return ['invalid_id', 'id has unsafe characters']
    for (const [name, value] of Object.entries(raw)) {
      if (name === 'id' || name === '_status' || name === '_changed') continue // _status/_changed ignored
      const column = this.columns[table][name]
      if (!column) return ['unknown_column', `unknown column ${name}`]
      if (value === null ? !column.isOptional : typeof value !== column.type) {
        return ['invalid_value', `bad value for ${name}`]
      }
      if (value === '__REJECT__') return ['rejected_for_test', `${name} asked to be rejected`]
    }
    return null
  }

  push(device, query, body) {
    const lastPulledAtText = query.get('last_pulled_at')
    if (lastPulledAtText === null || !/^\d+$/.test(lastPulledAtText)) {
      throw new HttpError(400, 'invalid_request', 'last_pulled_at must be an integer')
    }
    if (!body || typeof body !== 'object' || typeof body.changes !== 'object' || body.changes === null) {
      throw new HttpError(400, 'invalid_request', 'body must be {"changes": {...}}')
    }
    if (this.knobs.failPush > 0) {
      this.knobs.failPush -= 1
      throw new HttpError(503, 'unavailable_for_test', 'push refused by the mock')
    }
    const rejected = {}
    const rejections = []
    this.write(device, () => {
      for (const [table, lists] of Object.entries(body.changes)) {
        if (!this.rows[table]) throw new HttpError(400, 'unknown_table', `unknown table ${table}`, { table })
        for (const list of ['created', 'updated']) {
          for (const raw of lists[list] ?? []) {
            const problem = this.validateRecord(table, raw)
            if (problem) {
              ;(rejected[table] ??= []).push(raw.id)
              rejections.push({ table, id: raw.id, code: problem[0], message: problem[1] })
              continue
            }
            const { _status, _changed, ...values } = raw
            this.upsert(table, values) // created for an existing id updates it; updated for a missing one creates it
          }
        }
        for (const id of lists.deleted ?? []) this.remove(table, id) // missing id: no-op
      }
    })
    const response = { experimentalRejectedIds: rejected, rejections, conflicts: [] }
    if (this.knobs.corruptPush) this.knobs.corruptPush(response)
    return response
  }

  handle(method, url, device, body) {
    switch (`${method} ${url.pathname}`) {
      case 'GET /api/v1/sync/schema':
        return this.schema
      case 'GET /api/v1/sync/pull':
        return this.pull(device, url.searchParams)
      case 'POST /api/v1/sync/push':
        return this.push(device, url.searchParams, body)
      default:
        throw new HttpError(404, 'not_found', `no route ${method} ${url.pathname}`)
    }
  }
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = []
    request.on('data', (chunk) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}

export async function startMockServer({ port = 0, host = '127.0.0.1', ...stateOptions } = {}) {
  const state = new MockSyncState(stateOptions)
  const server = http.createServer(async (request, response) => {
    let status = 200
    let payload
    try {
      const url = new URL(request.url, 'http://mock')
      const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')
      const device = match ? state.tokens[match[1]] : undefined
      const text = await readBody(request)
      let body
      if (text) {
        try {
          body = JSON.parse(text)
        } catch {
          throw new HttpError(400, 'invalid_json', 'body is not JSON')
        }
      }
      state.requests.push({ method: request.method, path: url.pathname, query: Object.fromEntries(url.searchParams), device, body })
      if (!device) throw new HttpError(401, 'auth_token_invalid', 'missing or unknown access token')
      payload = state.handle(request.method, url, device, body)
    } catch (error) {
      status = error instanceof HttpError ? error.status : 500
      payload = {
        code: error instanceof HttpError ? error.code : 'internal_error',
        message: error.message,
        details: error instanceof HttpError ? error.details : {},
      }
    }
    response.writeHead(status, { 'Content-Type': 'application/json' })
    response.end(JSON.stringify(payload))
  })
  await new Promise((resolve) => server.listen(port, host, resolve))
  const { port: boundPort } = server.address()
  return {
    url: `http://${host}:${boundPort}`,
    tokens: Object.keys(state.tokens),
    state,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(resolve)
      }),
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const portIndex = process.argv.indexOf('--port')
  const port = portIndex > 0 ? Number(process.argv[portIndex + 1]) : 0
  const mock = await startMockServer({ port })
  process.stdout.write(`${JSON.stringify({ url: mock.url, tokens: mock.tokens })}\n`)
}
