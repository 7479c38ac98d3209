import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { channel } from 'node:diagnostics_channel';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { V8_DEFAULT_WASM_TIERING_BUDGET, configuredTieringBudget, holdHttpParserInBaselineTier } from '../../src/cli/parser-tiering.js';

const MODULE = fileURLToPath(new URL('../../src/cli/parser-tiering.js', import.meta.url));

test("the budget restored is V8's default unless the process names its own", () => {
  const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  const m = /--wasm-tiering-budget[^\n]*\n\s*type: int\s+default: --wasm-tiering-budget=(\d+)/.exec(options);
  assert.ok(m, 'node --v8-options lists --wasm-tiering-budget');
  assert.equal(V8_DEFAULT_WASM_TIERING_BUDGET, Number(m[1]));
  assert.equal(configuredTieringBudget([], undefined), V8_DEFAULT_WASM_TIERING_BUDGET);
  assert.equal(configuredTieringBudget(['--wasm-tiering-budget=500'], undefined), 500);
  assert.equal(configuredTieringBudget(['--wasm_tiering_budget', '700'], undefined), 700);
  assert.equal(configuredTieringBudget([], '--max-old-space-size=100 --wasm-tiering-budget=900'), 900);
  assert.equal(configuredTieringBudget(['--wasm-tiering-budget=x'], undefined), V8_DEFAULT_WASM_TIERING_BUDGET);
});

test('it listens until the first HTTP/1.1 connection is open, not after an HTTP/2 one', () => {
  const before = channel('undici:client:beforeConnect');
  const connected = channel('undici:client:connected');
  const failed = channel('undici:client:connectError');
  const stop = holdHttpParserInBaselineTier(V8_DEFAULT_WASM_TIERING_BUDGET);
  assert.ok(before.hasSubscribers && connected.hasSubscribers && failed.hasSubscribers);
  before.publish({ connectParams: {} });
  failed.publish({ connectParams: {} });
  before.publish({ connectParams: {} });
  connected.publish({ connectParams: { version: 'h2' } });
  assert.ok(before.hasSubscribers, 'an HTTP/2 connection made no parser');
  before.publish({ connectParams: {} });
  connected.publish({ connectParams: { version: 'h1' } });
  assert.ok(!before.hasSubscribers && !connected.hasSubscribers && !failed.hasSubscribers);
  stop();
  const stopEarly = holdHttpParserInBaselineTier(V8_DEFAULT_WASM_TIERING_BUDGET);
  stopEarly();
  assert.ok(!before.hasSubscribers);
});

/**
 * A child makes a few requests through undici and exits; V8 prints each function TurboFan
 * compiled (`--trace-wasm-compilation-times`), and `process.exit` waits for a compilation
 * in flight, so one started is printed. Without the hold, llhttp's parsing function was
 * compiled after two requests (and the process waited 60-190 ms for it at exit).
 */
test("undici's parser stays in the baseline tier while held", async () => {
  const script = `
    import { createServer } from 'node:http';
    import { Client } from 'undici';
    import { holdHttpParserInBaselineTier, V8_DEFAULT_WASM_TIERING_BUDGET } from ${JSON.stringify(MODULE)};
    holdHttpParserInBaselineTier(V8_DEFAULT_WASM_TIERING_BUDGET);
    const headers = {};
    for (let i = 0; i < 20; i++) headers['x-header-' + i] = 'v'.repeat(40);
    const server = createServer((req, res) => { res.writeHead(200, headers); res.end('x'.repeat(1000)); });
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    const client = new Client('http://127.0.0.1:' + server.address().port);
    for (let i = 0; i < 20; i++) await (await client.request({ path: '/', method: 'GET' })).body.text();
    process.stdout.write('done\\n');
    process.exit(0);
  `;
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--trace-wasm-compilation-times', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('.', import.meta.url)), timeout: 60_000 },
      (err, out) => (err ? reject(err) : resolve(out)),
    ),
  );
  assert.match(stdout, /done/);
  assert.doesNotMatch(stdout, /using TurboFan/);
});
