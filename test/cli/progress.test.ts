import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressLine, formatDuration } from '../../src/cli/progress.js';

/** A stand-in for stderr that records what is written. */
function terminal(isTTY: boolean): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = {
    isTTY,
    write(chunk: string) {
      written.push(chunk);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

test('the progress line is drawn on a terminal, and cleared when done', () => {
  const t = terminal(true);
  const p = new ProgressLine(t.stream, true);
  p.update('fetch', 500, 1000);
  p.update('fetch', 1000, 1000);
  p.done();
  assert.ok(t.written.length >= 2);
  assert.match(t.written.at(-2)!, /^\rfetch\s+\[#{30}\] 100% 1.00 kB\/1.00 kB/);
  assert.equal(t.written.at(-1), '\r\x1b[K');
});

test('no progress when disabled (--quiet, --json) or when stderr is not a terminal', () => {
  const cases: [boolean, boolean][] = [
    [true, false],
    [false, true],
  ];
  for (const [isTTY, enabled] of cases) {
    const t = terminal(isTTY);
    const p = new ProgressLine(t.stream, enabled);
    p.update('scan', 1, 2);
    p.update('scan', 2, 2);
    p.done();
    assert.deepEqual(t.written, [], `isTTY ${isTTY}, enabled ${enabled}`);
  }
});

test('the rate and the time left, as rsync --progress and curl show them', () => {
  const t = terminal(true);
  let now = 0;
  const p = new ProgressLine(t.stream, true, () => now);
  p.update('fetch', 0, 4_000_000);
  now = 1000;
  p.update('fetch', 1_000_000, 4_000_000);
  assert.match(t.written.at(-1)!, /25% 1\.00 MB\/4\.00 MB 1\.00 MB\/s ETA 0:03\x1b\[K$/);
  now = 2000;
  p.update('fetch', 4_000_000, 4_000_000);
  // Done: the rate, no time left.
  assert.match(t.written.at(-1)!, /100% 4\.00 MB\/4\.00 MB 2\.00 MB\/s\x1b\[K$/);
  // A new phase starts its rate afresh: nothing measured yet.
  now = 2200;
  p.update('scan', 10, 100);
  assert.match(t.written.at(-1)!, /10% 10 B\/100 B\x1b\[K$/);
});

test('a phase that counts files shows files, not bytes', () => {
  const t = terminal(true);
  let now = 0;
  const p = new ProgressLine(t.stream, true, () => now);
  p.update('files', 0, 304, 'files');
  now = 2000;
  p.update('files', 120, 304, 'files');
  const line = t.written.at(-1)!;
  assert.match(line, /39% 120\/304 files 60 files\/s ETA 0:04\x1b\[K$/);
  assert.doesNotMatch(line, / B\//);
  now = 2500;
  p.update('files', 304, 304, 'files');
  assert.match(t.written.at(-1)!, /100% 304\/304 files /);
});

test('formatDuration reads as rsync prints time left', () => {
  assert.equal(formatDuration(3.2), '0:04');
  assert.equal(formatDuration(750), '12:30');
  assert.equal(formatDuration(3723), '1:02:03');
});
