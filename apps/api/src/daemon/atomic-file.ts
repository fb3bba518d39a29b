import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface AtomicWrite {
  file: string;
  content: string;
}

function writeTemp(target: string, content: string): string {
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  // Created 0600 from the first byte: a secret is never readable by others, not even for an instant.
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.writeFileSync(fd, content);
    fs.fchmodSync(fd, 0o600);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The current content of a file we manage, or null when there is none worth keeping. Anything but a regular file (a
 * FIFO, a device, a symlink planted in its place) counts as none: reading a FIFO would block the event loop forever and
 * a link could point at /dev/zero or another file. O_NOFOLLOW | O_NONBLOCK plus fstat on the opened descriptor close
 * the race between a check and the read.
 */
function readIfExists(file: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENXIO') return null;
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_PREVIOUS_BYTES) return null;
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** A managed file larger than this is not ours (10,000 modules render to ~2 MB); it is replaced, not kept. */
const MAX_PREVIOUS_BYTES = 64 * 1024 * 1024;

/**
 * Replaces several files so that each is either wholly old or wholly new, mode 0600: every new content goes to a
 * temp file beside its target (fsynced) before any rename happens; renames follow in the given order; if a rename
 * fails, files already renamed are put back, so a failed write leaves the previous set intact.
 * Order matters to the caller: e.g. the secrets file before the config that references it.
 */
export function writeFilesAtomically(writes: AtomicWrite[], known: (string | undefined)[] = []): { restore: () => void } {
  // Read the old contents first: a target that cannot be read fails the write before anything is created. A caller
  // that knows a file's current content (it wrote it, and nothing changed it since) passes it in `known` instead.
  const previous = writes.map((w, i) => known[i] ?? readIfExists(w.file));
  const temps: string[] = [];
  try {
    for (const w of writes) temps.push(writeTemp(w.file, w.content));
  } catch (err) {
    for (const t of temps) fs.rmSync(t, { force: true });
    throw err;
  }
  const renamed: number[] = [];
  try {
    writes.forEach((w, i) => {
      fs.renameSync(temps[i]!, w.file);
      renamed.push(i);
    });
  } catch (err) {
    for (const t of temps) fs.rmSync(t, { force: true });
    for (const i of renamed.reverse()) {
      const old = previous[i];
      if (old === null || old === undefined) fs.rmSync(writes[i]!.file, { force: true });
      else writeFilesAtomically([{ file: writes[i]!.file, content: old }]);
    }
    throw err;
  }
  for (const dir of new Set(writes.map((w) => path.dirname(w.file)))) fsyncDir(dir);
  return {
    /** Puts the previous contents back (atomically, 0600), for a caller whose own commit failed afterwards. */
    restore: () => {
      const back = writes.flatMap((w, i) => (previous[i] === null ? [] : [{ file: w.file, content: previous[i]! }]));
      writes.forEach((w, i) => previous[i] === null && fs.rmSync(w.file, { force: true }));
      if (back.length > 0) writeFilesAtomically(back);
    },
  };
}

/**
 * Removes temp files a failed or interrupted write left beside `targets` (named `.<basename>.<hex>.tmp`, see
 * writeTemp). Returns the paths removed.
 */
export function removeLeftoverTemps(targets: string[]): string[] {
  const removed: string[] = [];
  for (const dir of new Set(targets.map((t) => path.dirname(t)))) {
    const names = new Set(targets.filter((t) => path.dirname(t) === dir).map((t) => path.basename(t)));
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const m = /^\.(.+)\.[0-9a-f]{12}\.tmp$/.exec(entry);
      if (!m || !names.has(m[1]!)) continue;
      const file = path.join(dir, entry);
      try {
        if (!fs.lstatSync(file).isFile()) continue;
        fs.rmSync(file, { force: true });
        removed.push(file);
      } catch {
        /* gone already */
      }
    }
  }
  return removed;
}
