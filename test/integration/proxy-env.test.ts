/**
 * Corporate networks, through the real command line: `HTTP_PROXY`/`http_proxy` and `NO_PROXY`
 * decide whether `gosync patch` reaches nginx through a forward proxy (every request, the
 * index and the ranges alike), a proxy that wants credentials gets them from the proxy URL,
 * and credentials in an index URL reach a server behind Basic authentication without ever
 * being printed.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliResult, runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { requireNginx, type NginxServer } from '../helpers/nginx.js';
import { type ForwardProxy, startForwardProxy } from './proxy-forward.js';

const oldData = randomBytes(2_000_000, 300);
const newData = concat(
  oldData.subarray(0, 400_000),
  randomBytes(5000, 301),
  oldData.subarray(400_000, 1_500_000),
  randomBytes(30_000, 302),
  oldData.subarray(1_530_000),
);

let dir: string;
let root: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-proxy-'));
  root = join(dir, 'www');
  await mkdir(root);
  await writeFile(join(root, 'app.bin'), newData);
  const built = await runCli(['build', '--json', join(root, 'app.bin')]);
  assert.equal(built.code, 0, built.stderr);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `gosync ...args` with `env` as the only proxy variables. */
function runWithEnv(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCli(args, { proxyEnv: env });
}

async function freshLocal(name: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, oldData);
  return path;
}

async function patchExactly(index: string, name: string, env: Record<string, string>, extra: string[] = []): Promise<CliResult> {
  const local = await freshLocal(name);
  const r = await runWithEnv(['patch', ...extra, local, index], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes('gosync-tmp')),
    [],
  );
  return r;
}

describe('HTTP_PROXY and NO_PROXY', () => {
  let nginx: NginxServer | undefined;
  let proxy: ForwardProxy;
  before(async (t) => {
    nginx = await requireNginx(t as never, root);
    proxy = await startForwardProxy();
  });
  after(async () => {
    await proxy?.close();
    await nginx?.close();
  });

  test('every request of a patch goes through the proxy HTTP_PROXY names', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    const logged = (await nginx.accessEntries()).length;
    proxy.forwarded.length = 0;
    const r = await patchExactly(`${nginx.url}app.bin.gosync`, 'via-proxy', { HTTP_PROXY: proxy.url }, ['--json']);
    const report = JSON.parse(r.stdout);
    assert.ok(report.fetchedBytes > 0 && report.fetchedBytes < 200_000, `fetched ${report.fetchedBytes}`);
    const served = (await nginx.accessEntries({ requests: logged + proxy.forwarded.length })).length - logged;
    // The index and at least one range request, all forwarded; nginx saw nothing else.
    assert.ok(proxy.forwarded.length >= 2, `forwarded ${proxy.forwarded.length}`);
    assert.equal(served, proxy.forwarded.length);
    for (const target of proxy.forwarded) assert.ok(target.startsWith(nginx.url), target);
    assert.deepEqual(proxy.tunnels, []);
  });

  test('the lower-case http_proxy works too', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    proxy.forwarded.length = 0;
    await patchExactly(`${nginx.url}app.bin.gosync`, 'via-lower', { http_proxy: proxy.url }, ['-q']);
    assert.ok(proxy.forwarded.length >= 2, `forwarded ${proxy.forwarded.length}`);
  });

  test('NO_PROXY naming the host (or with its port) bypasses the proxy', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    for (const noProxy of ['127.0.0.1', `example.org, 127.0.0.1:${nginx.port}`, '*']) {
      proxy.forwarded.length = 0;
      const logged = (await nginx.accessEntries()).length;
      await patchExactly(`${nginx.url}app.bin.gosync`, 'direct', { HTTP_PROXY: proxy.url, NO_PROXY: noProxy }, ['-q']);
      assert.equal(proxy.forwarded.length, 0, `NO_PROXY=${noProxy}`);
      assert.ok((await nginx.accessEntries()).length > logged, 'nginx was reached directly');
    }
    // Another port of the same host is still proxied.
    proxy.forwarded.length = 0;
    await patchExactly(`${nginx.url}app.bin.gosync`, 'other-port', { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1:1' }, ['-q']);
    assert.ok(proxy.forwarded.length >= 2, `forwarded ${proxy.forwarded.length}`);
  });

  test('a proxy that is down fails cleanly and leaves the local file as it was', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    const local = await freshLocal('proxy-down');
    // A port nothing listens on: the proxy's own just after it closed would race; port 9 (discard) is closed here.
    const r = await runWithEnv(['patch', '-q', local, `${nginx.url}app.bin.gosync`], { HTTP_PROXY: 'http://127.0.0.1:9' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /GOSYNC_ERR_NETWORK|ECONNREFUSED|Cannot fetch/);
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
  });
});

describe('credentials', () => {
  const PASSWORD = 'serv3r-s3cret';
  const PROXY_PASSWORD = 'pr0xy-s3cret';
  let nginx: NginxServer | undefined;
  let proxy: ForwardProxy;
  before(async (t) => {
    await writeFile(join(dir, 'htpasswd'), `reader:{PLAIN}${PASSWORD}\n`);
    nginx = await requireNginx(t as never, root, {
      serverDirectives: `auth_basic "gosync"; auth_basic_user_file ${JSON.stringify(join(dir, 'htpasswd'))};`,
    });
    proxy = await startForwardProxy({ credentials: `agent:${PROXY_PASSWORD}` });
  });
  after(async () => {
    await proxy?.close();
    await nginx?.close();
  });

  const withCredentials = (url: string, user: string, password: string): string => {
    const u = new URL(url);
    u.username = user;
    u.password = password;
    return u.href;
  };

  test('a proxy URL with credentials sends them as Proxy-Authorization, and they are never printed', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    const index = withCredentials(`${nginx.url}app.bin.gosync`, 'reader', PASSWORD);
    const env = { HTTP_PROXY: withCredentials(proxy.url, 'agent', PROXY_PASSWORD) };
    proxy.forwarded.length = 0;
    proxy.authorizations.length = 0;
    for (const args of [['--json'], []]) {
      const r = await patchExactly(index, 'proxy-auth', env, args);
      for (const out of [r.stdout, r.stderr]) assert.ok(!out.includes(PROXY_PASSWORD), out);
    }
    assert.ok(proxy.forwarded.length >= 4);
    const expected = `Basic ${Buffer.from(`agent:${PROXY_PASSWORD}`).toString('base64')}`;
    assert.ok(proxy.authorizations.length >= 2 && proxy.authorizations.every((a) => a === expected));
    for (const target of proxy.forwarded) assert.ok(!target.includes(PASSWORD), 'no credentials in the request line');
    // Wrong proxy credentials (407): a clean failure that prints neither password.
    const local = await freshLocal('proxy-auth-wrong');
    const wrong = await runWithEnv(['patch', local, index], { HTTP_PROXY: withCredentials(proxy.url, 'agent', 'not-the-one') });
    assert.notEqual(wrong.code, 0);
    const printed = `${wrong.stdout}${wrong.stderr}`;
    assert.match(printed, /Cannot fetch/);
    for (const secret of ['not-the-one', PASSWORD, PROXY_PASSWORD]) assert.ok(!printed.includes(secret), printed);
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
  });

  test('user:password@ in the index URL authenticates every request (Basic) and is not printed in messages', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    const index = withCredentials(`${nginx.url}app.bin.gosync`, 'reader', PASSWORD);
    const r = await patchExactly(index, 'url-auth', {}, []);
    for (const out of [r.stdout, r.stderr]) assert.ok(!out.includes(PASSWORD), out);
    // Without them nginx refuses (401): the credentials were what let the patch through.
    const local = await freshLocal('url-auth-none');
    const none = await runWithEnv(['patch', '-q', local, `${nginx.url}app.bin.gosync`], {});
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /401/);
    // Errors name the URL without them: a missing file, and a wrong password.
    for (const url of [
      withCredentials(`${nginx.url}missing.gosync`, 'reader', PASSWORD),
      withCredentials(`${nginx.url}app.bin.gosync`, 'reader', 'wr0ng-pw'),
    ]) {
      const failed = await runWithEnv(['patch', local, url], {});
      assert.notEqual(failed.code, 0);
      const printed = `${failed.stdout}${failed.stderr}`;
      assert.match(printed, /40[14]/);
      assert.ok(!printed.includes(PASSWORD) && !printed.includes('wr0ng-pw'), printed);
    }
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
  });

  test('user:password@ in the index URL is not in the --json report', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    const index = withCredentials(`${nginx.url}app.bin.gosync`, 'reader', PASSWORD);
    const r = await patchExactly(index, 'url-auth-json', {}, ['--json']);
    assert.ok(!r.stdout.includes(PASSWORD), r.stdout);
  });
});
