/**
 * What the dev server's hot reload watches: the project's source files, by directory.
 *
 * Node's recursive `fs.watch` on Linux watches each file's inode. Editors, `sed -i` and
 * `git checkout` save by writing a new file and renaming it over the old one, so after the first
 * such save the file's new inode is never watched and its changes are never seen. A directory's
 * watch reports every name written, created or renamed in it, whatever the inode, so one watch per
 * directory survives those saves. Directories created later are found by a rescan after each change.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export interface SourceWatcher {
  close(): void;
}

export interface WatchOptions {
  /** Paths (relative to the root, `/`-separated) of files and directories to leave out. */
  ignored: RegExp;
  /** Files that count as sources. */
  sources: RegExp;
  /** How long to wait for more changes before reporting: a save is several file operations. */
  settleMs?: number;
}

/** Calls `onChange` with the source files changed since the last call, once their changes settle. */
export async function watchSources(root: string, options: WatchOptions, onChange: (files: string[]) => void): Promise<SourceWatcher> {
  const watched = new Map<string, { watcher: FSWatcher; inode: number }>();
  const changed = new Set<string>();
  let closed = false;
  let settle: NodeJS.Timeout | undefined;
  const rel = (path: string) => relative(root, path).split(sep).join('/');

  const changedSoon = () => {
    clearTimeout(settle);
    settle = setTimeout(async () => {
      // A rename may have created, removed or replaced a directory: watch what is there now.
      await reconcile();
      if (closed || changed.size === 0) return;
      const files = [...changed];
      changed.clear();
      onChange(files);
    }, options.settleMs ?? 150);
  };

  const watchDirectory = (dir: string, inode: number) => {
    try {
      const watcher = watch(dir, (_event, name) => {
        if (name) {
          const path = join(dir, name.toString());
          if (!options.ignored.test(rel(path)) && options.sources.test(path)) changed.add(path);
        }
        changedSoon();
      });
      // A watched directory that was deleted reports an error on some platforms; the rescan drops it.
      watcher.on('error', () => changedSoon());
      watched.set(dir, { watcher, inode });
    } catch {
      // Gone between the scan and the watch: the next rescan settles it.
    }
  };

  const reconcile = async () => {
    const present = await directories(root, (path) => path !== root && options.ignored.test(rel(path)));
    if (closed) return;
    for (const [dir, entry] of watched) {
      if (present.get(dir) === entry.inode) continue;
      entry.watcher.close();
      watched.delete(dir);
    }
    for (const [dir, inode] of present) if (!watched.has(dir)) watchDirectory(dir, inode);
  };

  await reconcile();
  return {
    close: () => {
      closed = true;
      clearTimeout(settle);
      for (const { watcher } of watched.values()) watcher.close();
      watched.clear();
    },
  };
}

/** Every directory under `root` (itself included) that is not skipped, with its inode; symbolic links are not followed. */
async function directories(root: string, skip: (path: string) => boolean): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const visit = async (dir: string) => {
    try {
      found.set(dir, (await stat(dir)).ino);
      const entries = await readdir(dir, { withFileTypes: true });
      await Promise.all(entries.filter((e) => e.isDirectory() && !skip(join(dir, e.name))).map((e) => visit(join(dir, e.name))));
    } catch {
      // Removed while scanning: not there.
    }
  };
  await visit(root);
  return found;
}
