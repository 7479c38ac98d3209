/**
 * `gosync/tree`: published folders — publishing a folder (`buildTree`), updating or
 * comparing a local folder from a manifest (`patchTree`, `diffTree`), and the pieces for
 * other schemes: the manifest codec and object names, safe tree paths confined to a
 * folder, and the walk of a local folder.
 *
 * @module
 */
export { buildTree, type BuildTreeOptions, type BuildTreeReport } from './build-tree.js';
export type { FilterRule } from '../localfs/filter.js';
export {
  diffTree,
  patchTree,
  type PatchTreeOptions,
  type TreeDiffReport,
  type TreeFileAction,
  type TreeFileReport,
  type TreeOptions,
  type TreePatchReport,
  type TreeProgress,
} from './patch-tree.js';
export {
  decodeManifest,
  encodeManifest,
  MANIFEST_VERSION,
  objectNames,
  objectPath,
  type DirEntry,
  type FileEntry,
  type LinkEntry,
  type Manifest,
  type ManifestBase,
  type TreeEntry,
} from './manifest.js';
export { checkTreePath, treePathProblem, TreeRoot } from '../localfs/tree-path.js';
export { walkTree, type LocalEntry, type LocalTree, type WalkTreeOptions } from '../localfs/walk.js';
