// Files root writes in a directory of its own: the OCF agent's state
// directory (pid, identity, score, daemon log) and the daemon's control
// sockets. If anyone else could write in that directory, they could plant
// a symbolic link there and have root write wherever it points, or stand
// in for the daemon's sockets; so the directory must be this user's own
// and writable by nobody else, and files are never opened through a link.
import { closeSync, constants, lstatSync, openSync, rmSync, writeSync } from 'node:fs';

/** Why `dir` cannot hold this process's private files, or undefined when it can. */
export function privateDirectoryProblem(dir: string): string | undefined {
  let info;
  try {
    info = lstatSync(dir);
  } catch (err) {
    return `cannot examine ${dir}: ${(err as Error).message}`;
  }
  if (info.isSymbolicLink()) return `${dir} is a symbolic link; give the real directory`;
  if (!info.isDirectory()) return `${dir} is not a directory`;
  const uid = process.geteuid?.() ?? 0;
  if (info.uid !== uid) return `${dir} belongs to uid ${info.uid}, not to uid ${uid} which runs hasocks; remove it or chown it`;
  if ((info.mode & 0o022) !== 0) return `${dir} is writable by others (mode ${(info.mode & 0o777).toString(8)}); run "chmod 700 ${dir}"`;
  return undefined;
}

/** Open for writing without following a symbolic link at `path` (ELOOP if one is there). */
function openPrivate(path: string, flags: number, mode: number): number {
  return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | flags, mode);
}

/** Write `text` to `path`, replacing what it held, never through a link. */
export function writePrivateFile(path: string, text: string, mode = 0o600): void {
  const fd = openPrivate(path, constants.O_TRUNC, mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** A descriptor that appends to `path` (created with `mode`), never through a link. */
export function openPrivateLog(path: string, mode = 0o600): number {
  return openPrivate(path, constants.O_APPEND, mode);
}

/** Remove a pid file; after a privilege drop it may not be ours to remove, which is fine. */
export function removePidFile(path: string | undefined): void {
  if (!path) return;
  try {
    rmSync(path, { force: true });
  } catch {
    /* the agent treats a stale pid file by checking the process */
  }
}
