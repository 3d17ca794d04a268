// lib/client.mjs on its own: schema building, models with hand-written accessors, local writes.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { buildAppSchema, createRecord, findRaw, openDatabase, updateRecord } from '../lib/client.mjs'
import { MOCK_SCHEMA } from './mock_server.mjs'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const withTable = (columns, version = 1) => ({ version, tables: [{ name: 'things', columns }] })

test('new records get UUID v4 ids from crypto.randomUUID', async () => {
  const db = await openDatabase(MOCK_SCHEMA)

  const raw = await createRecord(db, 'checks', { checkpoint_name: 'Đồng Đăng', captured_at: 1, result: 'clear' })

  assert.match(raw.id, UUID_V4)
  assert.deepEqual(raw, {
    id: raw.id, _status: 'created', _changed: '',
    person_id: null, checkpoint_name: 'Đồng Đăng', captured_at: 1, result: 'clear', note: null,
  })
})

test('models get one accessor per column, behaving like @field', async () => {
  const db = await openDatabase(MOCK_SCHEMA)
  const { id } = await createRecord(db, 'persons', { full_name: 'Lê Thị A', commune_code: 'C001', is_wanted: false })
  const record = await db.get('persons').find(id)

  await db.write(() => record.update((draft) => {
    draft.note = 'ghi chú'
  }))

  assert.equal(record.full_name, 'Lê Thị A')
  assert.equal(record.note, 'ghi chú')
  assert.throws(() => {
    record.note = 'outside a writer'
  }, /Not allowed to change record/)
})

test('local writes refuse values WatermelonDB would silently coerce', async () => {
  const db = await openDatabase(MOCK_SCHEMA)

  await assert.rejects(createRecord(db, 'persons', { full_name: 'X', commune_code: 'C', is_wanted: 'no' }), /must be boolean/)
  await assert.rejects(createRecord(db, 'persons', { full_name: null }), /is not optional/)
  await assert.rejects(createRecord(db, 'persons', { nickname: 'x' }), /has no column nickname/)
})

test('setting a column to its current value does not mark it changed', async () => {
  const db = await openDatabase(MOCK_SCHEMA)
  const { id } = await createRecord(db, 'persons', { full_name: 'B', commune_code: 'C', is_wanted: false })
  await db.write(async () => {
    const record = await db.get('persons').find(id)
    await record.update(() => {})
    record._raw._status = 'synced' // as after a sync
  })

  const raw = await updateRecord(db, 'persons', id, { full_name: 'B', note: 'n' })

  assert.equal(raw._changed, 'note')
})

test('appTimestamps: created_at/updated_at are stamped with the device clock', async () => {
  const schema = withTable([
    { name: 'title', type: 'string' },
    { name: 'created_at', type: 'number' },
    { name: 'updated_at', type: 'number' },
  ])
  const before = Date.now()
  const plain = await openDatabase(schema)
  const stamped = await openDatabase(schema, { appTimestamps: true })

  const a = await createRecord(plain, 'things', { title: 'a' })
  const b = await createRecord(stamped, 'things', { title: 'b' })

  assert.equal(a.created_at, 0)
  assert.ok(b.created_at >= before && b.updated_at >= before)
  assert.equal((await findRaw(stamped, 'things', b.id)).created_at, b.created_at)
})

test('schema JSON that WatermelonDB cannot take is refused', () => {
  assert.throws(() => buildAppSchema(withTable([{ name: 'updated_at', type: 'number', isOptional: true }])), /must be of type number and not optional/)
  assert.throws(() => buildAppSchema(withTable([{ name: '_status', type: 'string' }])), /reserved by WatermelonDB/)
  assert.throws(() => buildAppSchema(withTable([{ name: 'photo-url', type: 'string' }])), /Unsafe name/)
  assert.throws(() => buildAppSchema(withTable([{ name: 'born_on', type: 'date' }])), /bad column/)
  assert.throws(() => buildAppSchema(withTable([{ name: 'x', type: 'string' }], 0)), /version must be a positive integer/)
})
