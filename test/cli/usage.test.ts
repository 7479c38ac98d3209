import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUILD_FILE_OPTIONS } from '../../src/cli/commands/build.js';
import { DIFF_FILE_OPTIONS, PATCH_FILE_OPTIONS } from '../../src/cli/commands/patch.js';
import { BUILD_TREE_OPTIONS, TREE_UPDATE_OPTIONS } from '../../src/cli/commands/tree.js';
import { MIN_NODE_MAJOR, UsageError, formValues, mergeForms, nodeVersionProblem, parse } from '../../src/cli/usage.js';

const FILE = {
  quiet: { type: 'boolean', short: 'q' },
  threads: { type: 'string', short: 't' },
  seed: { type: 'string', short: 'i' },
} as const;
const TREE = { quiet: { type: 'boolean', short: 'q' }, threads: { type: 'string', short: 't' }, delete: { type: 'boolean' } } as const;

test('parse expands grouped short options and records how each option was spelled', () => {
  const line = parse(['-qt', '4', 'a', '--threads=6', '--', '-b'], mergeForms(FILE, TREE));
  assert.deepEqual(line.positionals, ['a', '-b']);
  assert.equal(line.values.quiet, true);
  assert.equal(line.values.threads, '6');
  assert.deepEqual(
    [...line.given],
    [
      ['quiet', '-q'],
      ['threads', '-t'],
    ],
  );
});

test('parse turns an unknown option into a one-line UsageError', () => {
  assert.throws(
    () => parse(['-qx'], FILE),
    (err: unknown) => err instanceof UsageError && err.message === "Unknown option '-x'",
  );
  assert.throws(
    () => parse(['--nope', 'a'], FILE),
    (err: unknown) => err instanceof UsageError && err.message === "Unknown option '--nope'",
  );
});

test('formValues keeps the options of the chosen form and refuses the others as spelled', () => {
  const line = parse(['a', '-qi', 'seed', '--delete'], mergeForms(FILE, TREE));
  assert.throws(
    () => formValues(line, TREE),
    (err: unknown) => err instanceof UsageError && err.message === "Unknown option '-i'",
  );
  assert.throws(
    () => formValues(line, FILE),
    (err: unknown) => err instanceof UsageError && err.message === "Unknown option '--delete'",
  );
  const own = parse(['-q', '--seed', 's', 'a'], mergeForms(FILE, TREE));
  assert.deepEqual({ ...formValues(own, FILE) }, { quiet: true, seed: 's' });
});

test('mergeForms refuses forms that would need two parses', () => {
  assert.throws(() => mergeForms(FILE, { threads: { type: 'boolean', short: 't' } }), /--threads differs/);
  assert.throws(() => mergeForms(FILE, { threads: { type: 'string' } }), /--threads differs/);
  assert.throws(() => mergeForms(FILE, { checksum: { type: 'boolean', short: 'q' } }), /-q is both --quiet and --checksum/);
  assert.deepEqual(Object.keys(mergeForms(FILE, TREE)).sort(), ['delete', 'quiet', 'seed', 'threads']);
});

test("the commands' forms merge into one table", () => {
  for (const [a, b] of [
    [BUILD_FILE_OPTIONS, BUILD_TREE_OPTIONS],
    [PATCH_FILE_OPTIONS, TREE_UPDATE_OPTIONS],
    [DIFF_FILE_OPTIONS, TREE_UPDATE_OPTIONS],
  ] as const) {
    const merged = mergeForms(a, b);
    assert.equal(Object.keys(merged).length, new Set([...Object.keys(a), ...Object.keys(b)]).size);
  }
});

test('nodeVersionProblem refuses a Node.js older than 24 and names both versions', () => {
  assert.equal(MIN_NODE_MAJOR, 24);
  assert.equal(nodeVersionProblem('24.0.0'), undefined);
  assert.equal(nodeVersionProblem('24.21.0'), undefined);
  assert.equal(nodeVersionProblem('26.1.0'), undefined);
  assert.equal(nodeVersionProblem('20.20.2'), 'gosync needs Node.js 24 or newer; this is Node.js 20.20.2');
  assert.match(nodeVersionProblem('22.12.0') ?? '', /needs Node\.js 24 or newer; this is Node\.js 22\.12\.0/);
  assert.notEqual(nodeVersionProblem('garbage'), undefined);
});
