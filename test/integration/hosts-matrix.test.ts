/**
 * The host matrix: `gosync patch` through each host behaviour of test/helpers/host-proxy.ts
 * (in front of nginx) for a binary-like update and a file with 400 scattered edits. Every
 * patch gives the exact file; the body bytes each host sends stay within 1.5 times what the
 * same patch takes from nginx; a host without Range support costs at most the file, the index
 * and 10%. GitHub's signed URLs expire after 5 s here (the test below lets one expire).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { HttpSource } from '../../src/sources/http/http-source.js';
import { runCli } from '../helpers/cli.js';
import { binaryUpdate, scatteredEdits } from '../helpers/host-data.js';
import { HOST_BEHAVIOURS, startHostProxy } from '../helpers/host-proxy.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';

const pairs = [
  { name: 'binary', ...binaryUpdate(3 << 20, 41) },
  { name: 'scattered', ...scatteredEdits(4 << 20, 400, 43) },
];
let dir: string;
let www: string;
let nginx: NginxServer | undefined;
const nginxBytes = new Map<string, number>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-hosts-'));
  www = join(dir, 'www');
  await mkdir(www);
  for (const p of pairs) {
    await writeFile(join(www, `${p.name}.bin`), p.next);
    const built = await runCli(['build', join(www, `${p.name}.bin`), '-q']);
    assert.equal(built.code, 0, built.stderr);
  }
  nginx = await startNginx(www);
});
after(async () => {
  await nginx?.close();
  await rm(dir, { recursive: true, force: true });
});

for (const behaviour of HOST_BEHAVIOURS) {
  test(`host matrix: ${behaviour}`, { timeout: 60_000 }, async (t) => {
    if (nginx === undefined) return t.skip('nginx is not installed');
    const host = await startHostProxy({ target: { port: nginx.port }, behaviour, signedTtlMs: 5000 });
    try {
      for (const p of pairs) {
        const folder = join(dir, `${behaviour}-${p.name}`);
        await mkdir(folder);
        const local = join(folder, 'file.bin');
        await writeFile(local, p.old);
        host.reset();
        const result = await runCli(['patch', local, `${host.url}${p.name}.bin.gosync`, '--json', '-q']);
        assert.equal(result.code, 0, `${behaviour} ${p.name}: ${result.stderr}`);
        assert.ok(Buffer.from(p.next).equals(await readFile(local)), `${behaviour} ${p.name}: exact output`);
        assert.deepEqual(await readdir(folder), ['file.bin'], 'nothing left behind');
        const bytes = host.bodyBytes();
        t.diagnostic(`${p.name}: ${bytes} B in ${host.log.length} requests`);
        if (behaviour === 'nginx') nginxBytes.set(p.name, bytes);
        const reference = nginxBytes.get(p.name);
        assert.ok(reference !== undefined, 'the nginx row runs first');
        if (behaviour === 'python') {
          const index = (await stat(join(www, `${p.name}.bin.gosync`))).size;
          assert.ok(bytes <= (p.next.length + index) * 1.1, `no Range: ${bytes} B for a ${p.next.length} B file and a ${index} B index`);
        } else {
          assert.ok(bytes <= reference * 1.5, `${bytes} B, nginx moved ${reference} B`);
        }
      }
    } finally {
      await host.close();
    }
  });
}

test('an expired signed URL (403 after working) is followed again from the URL given', async (t) => {
  if (nginx === undefined) return t.skip('nginx is not installed');
  const host = await startHostProxy({ target: { port: nginx.port }, behaviour: 'github', signedTtlMs: 50 });
  const data = pairs[0]!.next;
  const source = new HttpSource(`${host.url}binary.bin`);
  const read = async (start: number, end: number): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of source.read([{ start, end }])) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  };
  try {
    assert.ok((await read(0, 1000)).equals(Buffer.from(data.subarray(0, 1000))));
    await delay(120);
    assert.ok((await read(5000, 9000)).equals(Buffer.from(data.subarray(5000, 9000))));
  } finally {
    await source.close();
    await host.close();
  }
  const statuses = host.log.map((e) => e.status);
  assert.deepEqual(statuses, [302, 206, 403, 302, 206]);
});
