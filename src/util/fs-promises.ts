/**
 * The functions of `node:fs/promises` that gosync uses, without loading that module until a
 * `FileHandle` is opened. Loading it loads Node's readline, REPL history, directory and watcher
 * modules with it: 2.0-3.1 ms in a fresh process on the bench machine, where `gosync build
 * --base` of a small file (the bench's case 5) opens no file handle at all. The functions on
 * paths are `node:fs`'s callback functions as promises (`util.promisify`, the same
 * operations, arguments and errors; `realpath` is `fs.realpath.native`, as in
 * `node:fs/promises`; `readFile` and `writeFile` take a path, not a `FileHandle`: use the handle's
 * own methods); `open` loads `node:fs/promises` on its first call. Imported instead of
 * `node:fs/promises` everywhere in src/ (test/architecture.test.ts checks it).
 *
 * @module
 */
import type * as Fsp from 'node:fs/promises';
import { builtin } from './builtin.js';

export type { FileHandle } from 'node:fs/promises';

const fs = builtin('node:fs');
const { promisify } = builtin('node:util');

/** `fsPromises.open`: the one function here that loads `node:fs/promises` (on its first call). */
export const open: typeof Fsp.open = (...args) => builtin('node:fs/promises').open(...args);

export const chmod = promisify(fs.chmod) as typeof Fsp.chmod;
export const chown = promisify(fs.chown) as typeof Fsp.chown;
export const constants: typeof Fsp.constants = fs.constants;
export const copyFile = promisify(fs.copyFile) as typeof Fsp.copyFile;
export const lstat = promisify(fs.lstat) as typeof Fsp.lstat;
export const lutimes = promisify(fs.lutimes) as typeof Fsp.lutimes;
export const mkdir = promisify(fs.mkdir) as typeof Fsp.mkdir;
export const mkdtemp = promisify(fs.mkdtemp) as typeof Fsp.mkdtemp;
export const readdir = promisify(fs.readdir) as typeof Fsp.readdir;
export const readFile = promisify(fs.readFile) as typeof Fsp.readFile;
export const readlink = promisify(fs.readlink) as typeof Fsp.readlink;
export const realpath = promisify(fs.realpath.native) as typeof Fsp.realpath;
export const rename = promisify(fs.rename) as typeof Fsp.rename;
export const rm = promisify(fs.rm) as typeof Fsp.rm;
export const rmdir = promisify(fs.rmdir) as typeof Fsp.rmdir;
export const stat = promisify(fs.stat) as typeof Fsp.stat;
export const symlink = promisify(fs.symlink) as typeof Fsp.symlink;
export const unlink = promisify(fs.unlink) as typeof Fsp.unlink;
export const utimes = promisify(fs.utimes) as typeof Fsp.utimes;
export const writeFile = promisify(fs.writeFile) as typeof Fsp.writeFile;

/** `fs.open` as a promise: a file descriptor, for a few bytes read without a FileHandle. */
export const openFd = promisify(fs.open);
/** `fs.read` as a promise (resolves `{ bytesRead, buffer }`). */
export const readFd = promisify(fs.read);
/** `fs.close` as a promise. */
export const closeFd = promisify(fs.close);
