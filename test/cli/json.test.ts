/**
 * The `--json` contract: each command's report is checked, field by field, against the
 * tables of docs/json.md (read here, so the page and the output cannot drift): every
 * field documented without `?` is present, none is undocumented, each has its type.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type StaticServer, startStaticServer } from '../../src/serve/static-server.js';
import { CLI, runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { S3_CREDENTIALS, S3_REGION, startS3Server } from '../publish/s3-server.js';

interface Field {
  type: string;
  optional: boolean;
}
/** Each report's fields by name (`a`, `a.b`, `a[].b`), from docs/json.md. */
type Schema = Map<string, Map<string, Field>>;

const DOC = fileURLToPath(new URL('../../../docs/json.md', import.meta.url));

/** Reads the tables of docs/json.md: a `<!-- report: name -->` line, then a table of fields. */
async function readSchema(): Promise<Schema> {
  const schema: Schema = new Map();
  let current: Map<string, Field> | undefined;
  for (const line of (await readFile(DOC, 'utf8')).split('\n')) {
    const marker = /^<!-- report: ([a-z-]+) -->$/.exec(line);
    if (marker) {
      current = new Map();
      schema.set(marker[1]!, current);
      continue;
    }
    if (current === undefined) continue;
    if (!line.startsWith('|')) {
      if (current.size > 0) current = undefined;
      continue;
    }
    const cells = line.split('|').map((c) => c.trim());
    const m = /^`([A-Za-z0-9.[\]]+?)(\?)?`$/.exec(cells[1] ?? '');
    if (!m) continue;
    current.set(m[1]!, { type: cells[2]!, optional: m[2] === '?' });
  }
  return schema;
}

let schema: Schema;

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case 'string':
    case 'number':
    case 'boolean':
      return typeof v === type;
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'string[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'object[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
    case 'number[][]':
      return Array.isArray(v) && v.every((x) => Array.isArray(x) && x.every((y) => typeof y === 'number'));
    default:
      throw new Error(`docs/json.md: unknown type "${type}"`);
  }
}

/** Checks `value` against the fields of `fields` under `prefix` (one level, then each documented child). */
function checkObject(where: string, fields: Map<string, Field>, prefix: string, value: Record<string, unknown>): void {
  const level = [...fields].filter(([name]) => name.startsWith(prefix) && !/[.[]/.test(name.slice(prefix.length)));
  assert.ok(level.length > 0, `${where}: nothing documented under "${prefix}"`);
  const documented = new Set(level.map(([name]) => name.slice(prefix.length)));
  for (const key of Object.keys(value)) assert.ok(documented.has(key), `${where}: "${prefix}${key}" is printed but not documented`);
  for (const [name, f] of level) {
    const key = name.slice(prefix.length);
    const v = value[key];
    if (v === undefined) {
      assert.ok(f.optional, `${where}: "${name}" is documented but not printed`);
      continue;
    }
    assert.ok(typeOk(f.type, v), `${where}: "${name}" should be ${f.type}, is ${JSON.stringify(v)}`);
    // Children documented as name.x (an object) or name[].x (each element).
    if ([...fields.keys()].some((n) => n.startsWith(`${name}.`))) checkObject(where, fields, `${name}.`, v as Record<string, unknown>);
    if ([...fields.keys()].some((n) => n.startsWith(`${name}[].`)))
      for (const e of v as Record<string, unknown>[]) checkObject(where, fields, `${name}[].`, e);
  }
}

/** Parses a command's stdout (one line of JSON) and checks it against report `name` of docs/json.md. */
function checkReport(name: string, stdout: string, expect: { command: string; dryRun?: boolean }): Record<string, unknown> {
  assert.match(stdout, /^\{.*\}\n$/, `${name}: one line of JSON`);
  const report = JSON.parse(stdout) as Record<string, unknown>;
  const fields = schema.get(name);
  assert.ok(fields, `docs/json.md documents no report "${name}"`);
  checkObject(name, fields, '', report);
  assert.equal(report.command, expect.command);
  assert.match(String(report.version), /^\d+\.\d+\.\d+/);
  const keys = Object.keys(report);
  assert.deepEqual(keys.slice(0, 2), ['command', 'version'], 'command and version come first');
  if (expect.dryRun !== undefined) assert.equal(report.dryRun, expect.dryRun);
  if (typeof report.seconds === 'number') assert.equal(report.seconds, Math.round(report.seconds * 1000) / 1000, 'seconds in ms');
  if (Array.isArray(report.fileList)) for (const e of report.fileList) checkObject(`${name} fileList`, schema.get('file-entry')!, '', e);
  return report;
}

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

let dir: string;
let server: StaticServer;
const TEXT = 'All work and no play makes a sync tool a dull tool; compressible text repeats.\n';

before(async () => {
  schema = await readSchema();
  dir = await mkdtemp(join(tmpdir(), 'gosync-json-'));
  await mkdir(join(dir, 'www'));
  server = await startStaticServer({ root: join(dir, 'www'), port: 0 });
});
after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

test('docs/json.md documents every report with a table', () => {
  for (const name of [
    'error',
    'build-file',
    'build-folder',
    'patch-file',
    'diff-file',
    'patch-folder',
    'file-entry',
    'diff-folder',
    'sync',
    'publish',
    'prune',
  ])
    assert.ok((schema.get(name)?.size ?? 0) > 0, name);
});

test('build <file>: the documented fields, with frames, the whole stream and a delta from a base', async () => {
  const old = join(dir, 'www', 'old.txt');
  const file = join(dir, 'www', 'doc.txt');
  await writeFile(old, TEXT.repeat(3000));
  await writeFile(file, `${TEXT.repeat(1500)}an edit\n${TEXT.repeat(1500)}`);
  const r = checkReport('build-file', await ok(['build', '--json', '--level', '3', '--base', old, file]), {
    command: 'build',
    dryRun: false,
  });
  assert.ok(r.frames && r.whole && Array.isArray(r.bases), 'frames, whole and bases printed');
  // --dry-run: the same report, the paths a build would write, nothing written.
  const dry = join(dir, 'dry.gosync');
  const d = checkReport('build-file', await ok(['build', '--json', '--dry-run', '-o', dry, file]), { command: 'build', dryRun: true });
  assert.equal(d.index, dry);
  assert.equal((d.frames as { path: string }).path, `${dry}z`);
  await assert.rejects(readFile(dry), { code: 'ENOENT' });
  await assert.rejects(readFile(`${dry}z`), { code: 'ENOENT' });
  // An alias reports the command's full name; the zsync format too.
  checkReport('build-file', await ok(['b', '--json', '--format', 'zsync', '-o', join(dir, 'doc.zsync'), file]), { command: 'build' });
});

test('patch and diff of a file: the documented fields, --dry-run, a delta found through the summary', async () => {
  const local = join(dir, 'local.txt');
  await writeFile(local, `${TEXT.repeat(1400)}local\n${TEXT.repeat(1500)}`);
  const url = `${server.url}doc.txt.gosync`;
  const d = checkReport('diff-file', await ok(['diff', '--json', local, url]), { command: 'diff' });
  assert.equal(d.dryRun, undefined, 'diff changes nothing: no dryRun');
  assert.equal(d.ranges, (d.rangeList as unknown[]).length);
  const n = checkReport('diff-file', await ok(['patch', '-n', '--json', local, url]), { command: 'patch', dryRun: true });
  assert.equal(n.fetchedBytes, d.fetchedBytes);
  const p = checkReport('patch-file', await ok(['patch', '--json', local, url, '-o', join(dir, 'out.txt')]), {
    command: 'patch',
    dryRun: false,
  });
  assert.equal(p.fetchedBytes, d.fetchedBytes, 'the patch fetched what the diff said');
  // The local file is exactly the base a delta was published from: the summary's way.
  await cp(join(dir, 'www', 'old.txt'), join(dir, 'old-copy.txt'));
  const k = checkReport('patch-file', await ok(['patch', '--json', join(dir, 'old-copy.txt'), url]), { command: 'patch' });
  assert.equal(k.plan, 'base');
  assert.equal(typeof k.deltaKind, 'string');
});

test('build, patch and diff of a folder: the documented fields, --dry-run', async () => {
  const src = join(dir, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'a.txt'), 'a');
  await writeFile(join(src, 'sub', 'big.bin'), randomBytes(40_000, 3));
  const pub = join(dir, 'www', 'pub');
  const b = checkReport('build-folder', await ok(['build', '--json', src, '-o', pub]), { command: 'build', dryRun: false });
  const manifest = `${server.url}pub/src.tree.json`;
  assert.equal(b.index, join(pub, 'src.tree.json'));
  const dst = join(dir, 'dst');
  await mkdir(dst);
  await writeFile(join(dst, 'extra.txt'), 'x');
  const d = checkReport('diff-folder', await ok(['diff', '--json', dst, manifest]), { command: 'diff' });
  assert.deepEqual(d.extraneous, ['extra.txt']);
  checkReport('diff-folder', await ok(['patch', '-n', '--json', dst, manifest]), { command: 'patch', dryRun: true });
  const p = checkReport('patch-folder', await ok(['patch', '--json', '--delete', dst, manifest]), { command: 'patch', dryRun: false });
  assert.equal(p.deleted, 1);
  assert.deepEqual(p.deletedPaths, ['extra.txt']);
  assert.equal((p.totals as { files: number }).files, 2);
});

test('push and pull: the documented fields', async () => {
  const src = join(dir, 'sync-src');
  await mkdir(src);
  await writeFile(join(src, 'f.txt'), 'hello');
  const pushed = checkReport('sync', await ok(['push', '--json', src, join(dir, 'sync-dst')]), { command: 'push', dryRun: false });
  assert.equal(pushed.changed, 1);
  const dry = checkReport('sync', await ok(['pull', '-n', '--json', join(dir, 'sync-dst'), join(dir, 'sync-back')]), {
    command: 'pull',
    dryRun: true,
  });
  assert.deepEqual(dry.changedPaths, ['f.txt']);
});

test('prune: the documented fields', async () => {
  const pub = join(dir, 'www', 'pub');
  checkReport('prune', await ok(['prune', '-n', '--json', pub]), { command: 'prune', dryRun: true });
  checkReport('prune', await ok(['prune', '--json', pub]), { command: 'prune', dryRun: false });
});

test('publish: the documented fields (against an S3-compatible server on 127.0.0.1)', async () => {
  const s3 = await startS3Server(['json']);
  try {
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: S3_REGION,
      AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [CLI, 'publish', '--json', join(dir, 'www', 'pub'), 's3://json/site', '--endpoint', s3.endpoint, '--force-path-style'],
        { env, timeout: 120_000 },
        (err, out, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(out)),
      );
    });
    const r = checkReport('publish', stdout, { command: 'publish', dryRun: false });
    assert.ok((r.uploaded as unknown[]).length > 0);
  } finally {
    await s3.close();
  }
});

test('a failure with --json: {command, version, error: {code, message}} on stdout, the exit code as without', async () => {
  const usage = await runCli(['patch', '--json', 'a', 'ftp://example.com/a.gosync']);
  assert.equal(usage.code, 2);
  const u = checkReport('error', usage.stdout, { command: 'patch' });
  assert.equal((u.error as { code: string }).code, 'GOSYNC_ERR_USAGE');
  assert.match(usage.stderr, /ftp:\/\//);
  const missing = await runCli(['b', '--json', join(dir, 'missing.bin')]);
  assert.equal(missing.code, 1);
  const m = checkReport('error', missing.stdout, { command: 'build' });
  assert.equal((m.error as { code: string }).code, 'GOSYNC_ERR_IO');
  // Without --json, nothing on stdout.
  assert.equal((await runCli(['b', join(dir, 'missing.bin')])).stdout, '');
});
