import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressLine } from '../../src/cli/progress.js';

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
