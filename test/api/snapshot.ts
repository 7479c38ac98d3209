/** Export-list snapshots: compared as data, written in Biome's JSON layout (so that an update leaves nothing to format). */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

/** An array on one line when the line fits in Biome's 140 columns, else one name per line. */
export function formatSnapshot(lists: Readonly<Record<string, readonly string[]>>): string {
  const entries = Object.entries(lists);
  const lines = entries.map(([key, names], i) => {
    const comma = i < entries.length - 1 ? ',' : '';
    const flat = `  ${JSON.stringify(key)}: [${names.map((n) => JSON.stringify(n)).join(', ')}]${comma}`;
    if (flat.length <= 140) return flat;
    return `  ${JSON.stringify(key)}: [\n${names.map((n) => `    ${JSON.stringify(n)}`).join(',\n')}\n  ]${comma}`;
  });
  return `{\n${lines.join('\n')}\n}\n`;
}

/**
 * Asserts `lists` equals the snapshot at `path`; with UPDATE_EXPORTS_SNAPSHOT=1 in the
 * environment, writes it there first.
 */
export function assertSnapshot(path: string, lists: Readonly<Record<string, readonly string[]>>, update: string): void {
  if (process.env.UPDATE_EXPORTS_SNAPSHOT === '1') writeFileSync(path, formatSnapshot(lists));
  assert.deepEqual(
    lists,
    JSON.parse(readFileSync(path, 'utf8')),
    `the export list changed: if on purpose, run ${update} and commit test/api/${basename(path)}`,
  );
}
