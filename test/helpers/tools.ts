/** Finding the external tools integration tests run against. */
import { execFileSync } from 'node:child_process';

/** True when `cmd` is on the PATH. */
export function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
