/**
 * Compile-time test of the root API: every public function of `gosync`, called with its
 * option types and read back through its report types, all imported from the package by
 * name (through package.json's `exports`, as a user's code imports them). The build
 * (`tsc`) fails when one of them is no longer importable or no longer fits. Nothing here
 * runs: the functions are declared, never called.
 */
import {
  type BlockIndex,
  type BlockSource,
  type BuildFileOptions,
  type BuildReport,
  type BuildTreeOptions,
  type BuildTreeReport,
  type BuildZsyncFileOptions,
  type ByteRange,
  type CompressOptions,
  type DiffOptions,
  type DiffReport,
  ErrorCodes,
  type ErrorCode,
  type FetchPlan,
  FileSource,
  type FileSourceOptions,
  type FoundScan,
  HttpSource,
  type HttpSourceOptions,
  type LibrsyncSignature,
  type LoadedIndex,
  type LoadIndexOptions,
  type LocalScan,
  MemorySource,
  type PatchOptions,
  type PatchProgress,
  type PatchReport,
  type PatchTreeOptions,
  type PushPullOptions,
  type RdiffDeltaOptions,
  type RdiffDeltaReport,
  type RdiffInput,
  type RdiffOutput,
  type RdiffPatchOptions,
  type RdiffPatchReport,
  type RdiffSignatureOptions,
  type RdiffSignatureReport,
  type ReadRangesOptions,
  type ScanOptions,
  type ServedSession,
  type ServeSessionOptions,
  type SourceStats,
  type StaticServer,
  type StaticServerOptions,
  type StrongHash,
  SyncError,
  type SyncErrorDetails,
  type SyncProgress,
  type SyncReport,
  type Transport,
  type TreeDiffReport,
  type TreeFileAction,
  type TreeOptions,
  type TreePatchReport,
  type TreeProgress,
  buildIndexFile,
  buildTree,
  buildZsyncFile,
  diffFile,
  diffTree,
  loadIndex,
  patchFile,
  patchTree,
  pull,
  push,
  rdiffDelta,
  rdiffPatch,
  rdiffSignature,
  resolveReference,
  scanLocalFiles,
  serveSession,
  startStaticServer,
} from 'gosync';

/** `A` and `B` are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

export async function publish(file: string, signal: AbortSignal): Promise<number> {
  const compress: CompressOptions = { level: 9 };
  const options: BuildFileOptions = { signal, compress };
  const report: BuildReport = await buildIndexFile(file, `${file}.gosync`, options);
  const zsyncOptions: BuildZsyncFileOptions = { signal };
  const zsync: BuildReport = await buildZsyncFile(file, `${file}.zsync`, zsyncOptions);
  return report.indexBytes + zsync.indexBytes;
}

export async function update(local: string, url: string, signal: AbortSignal): Promise<PatchReport> {
  const loadOptions: LoadIndexOptions = { signal, maxBytes: 1 << 20 };
  const loaded: LoadedIndex = await loadIndex(url, loadOptions);
  const index: BlockIndex = loaded.index;
  const strong: StrongHash = index.strongHash;
  const httpOptions: HttpSourceOptions = { connections: 8, expectedSize: index.fileSize };
  const source = new HttpSource(resolveReference(loaded), httpOptions);
  const scanOptions: ScanOptions = { signal, threads: 2 };
  const scan: LocalScan = await scanLocalFiles(index, [local], scanOptions);
  const found: FoundScan = scan;
  const diffOptions: DiffOptions = { local, index, scan: found, signal };
  const diff: DiffReport = await diffFile(diffOptions);
  const plan: FetchPlan = diff.plan;
  const ranges: readonly ByteRange[] = diff.ranges;
  const onProgress = (p: PatchProgress): void => void p;
  const patchOptions: PatchOptions = { ...diffOptions, source, onProgress };
  try {
    const report = await patchFile(patchOptions);
    expectType<Equal<typeof report.plan, FetchPlan['kind'] | 'base'>>();
    void [strong.name, plan, ranges.length];
    return report;
  } finally {
    await source.close();
  }
}

export async function sources(path: string, data: Uint8Array, signal: AbortSignal): Promise<(SourceStats | undefined)[]> {
  const fileOptions: FileSourceOptions = {};
  const all: BlockSource[] = [new FileSource(path, fileOptions), new MemorySource(data)];
  const readOptions: ReadRangesOptions = { signal };
  for (const s of all) for await (const chunk of s.read([{ start: 0, end: 1 }], readOptions)) void chunk;
  return all.map((s) => s.stats);
}

export async function rdiff(input: RdiffInput, output: RdiffOutput, sig: LibrsyncSignature): Promise<number> {
  const sigOptions: RdiffSignatureOptions = { hash: 'md4', rollsum: 'rollsum' };
  const s: RdiffSignatureReport = await rdiffSignature(input, output, sigOptions);
  const deltaOptions: RdiffDeltaOptions = {};
  const d: RdiffDeltaReport = await rdiffDelta(sig, input, output, deltaOptions);
  const patchOptions: RdiffPatchOptions = { overwrite: false };
  const p: RdiffPatchReport = await rdiffPatch('basis', input, output, patchOptions);
  return s.signatureBytes + d.deltaBytes + p.outputBytes;
}

export async function folders(dir: string, manifest: string, signal: AbortSignal): Promise<number> {
  const buildOptions: BuildTreeOptions = { signal };
  const built: BuildTreeReport = await buildTree(dir, 'out', buildOptions);
  const onProgress = (p: TreeProgress): void => void p;
  const treeOptions: TreeOptions = { signal, onProgress };
  const diff: TreeDiffReport = await diffTree(dir, manifest, treeOptions);
  const patchOptions: PatchTreeOptions = { ...treeOptions, delete: true };
  const patched: TreePatchReport = await patchTree(dir, manifest, patchOptions);
  const actions: TreeFileAction[] = patched.files.map((f) => f.action);
  return built.files + diff.files.length + actions.length;
}

export async function ssh(transport: Transport, signal: AbortSignal): Promise<[SyncReport, SyncReport, ServedSession]> {
  const onProgress = (p: SyncProgress): void => void p;
  const options: PushPullOptions = { delete: true, signal, onProgress };
  const serveOptions: ServeSessionOptions = { readOnly: true, signal };
  return [await push('a', 'host:b', options), await pull('host:b', 'a', options), await serveSession(transport, serveOptions)];
}

export async function serve(root: string): Promise<string> {
  const options: StaticServerOptions = { root, port: 0 };
  const server: StaticServer = await startStaticServer(options);
  await server.close();
  return server.url;
}

export function errors(e: unknown): ErrorCode | undefined {
  if (!SyncError.is(e)) return undefined;
  const details: SyncErrorDetails | undefined = undefined;
  void details;
  return e.code === ErrorCodes.IO ? ErrorCodes.IO : e.code;
}
