import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatherFields, scatterFields } from '../../../src/core/index/fields.js';

test('gatherFields takes one field per record, scatterFields puts them back', () => {
  // Records of 7 bytes after a 3-byte header: 2 bytes, then a 5-byte field.
  const records = 9;
  const src = Buffer.alloc(3 + records * 7);
  for (let i = 0; i < src.length; i++) src[i] = (i * 37 + 11) & 0xff;
  const fields = new Uint8Array(2 + records * 5);
  gatherFields(src, 3 + 2, 7, 5, records, fields, 2);
  assert.deepEqual([...fields.subarray(0, 2)], [0, 0]);
  for (let i = 0; i < records; i++) {
    assert.deepEqual([...fields.subarray(2 + i * 5, 2 + i * 5 + 5)], [...src.subarray(3 + i * 7 + 2, 3 + i * 7 + 7)], `record ${i}`);
  }
  const back = Buffer.alloc(src.length);
  scatterFields(fields, 2, 5, records, back, 3 + 2, 7);
  for (let i = 0; i < records; i++) {
    assert.deepEqual(back.subarray(3 + i * 7 + 2, 3 + i * 7 + 7), src.subarray(3 + i * 7 + 2, 3 + i * 7 + 7));
    assert.deepEqual([...back.subarray(3 + i * 7, 3 + i * 7 + 2)], [0, 0], 'the other bytes are left alone');
  }
  // No records, no change.
  gatherFields(src, 0, 7, 5, 0, fields, 0);
  assert.deepEqual([...fields.subarray(0, 2)], [0, 0]);
});
