/** Real package versions from the npm registry, unpacked (for tests on real data). */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Fetches `pkg@version` with `npm pack` into `work` and unpacks it; returns the package
 * folder. With `touch`, files get the time of unpacking instead of the tarball's fixed
 * 1985 mtimes, as a checkout or build output would (so size + mtime tell versions apart).
 */
export async function unpackVersion(pkg: string, version: string, work: string, options: { touch?: boolean } = {}): Promise<string> {
  const dir = join(work, `${pkg.replace('/', '_')}-${version}`);
  await mkdir(dir, { recursive: true });
  const { stdout } = await run('npm', ['pack', `${pkg}@${version}`, '--silent', '--pack-destination', dir], { cwd: dir, timeout: 120_000 });
  const tgz = join(dir, stdout.trim().split('\n').pop()!);
  await run('tar', [options.touch ? 'xzmf' : 'xzf', tgz, '-C', dir]);
  return join(dir, 'package');
}
