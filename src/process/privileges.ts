import { execFileSync } from 'node:child_process';

/** uid and primary gid of a user, through NSS (so LDAP users work too). */
export function lookupUser(user: string): { uid: number; gid: number } {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`user "${user}" does not exist (getent passwd ${user} found nothing)`);
  }
  const fields = line.split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/**
 * Switch this process to `user` for good (Dante's user.unprivileged): its
 * groups, then its gid, then its uid, so root cannot be regained. Called
 * after every privileged socket is open.
 */
export function dropPrivileges(user: string): void {
  const { uid, gid } = lookupUser(user);
  if (process.getuid!() === uid) return;
  if (process.getuid!() !== 0) throw new Error(`cannot switch to user "${user}": running as uid ${process.getuid!()}, not root`);
  // The user's supplementary groups, as initgroups(3) would set them.
  const groups = execFileSync('id', ['-G', user], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
  process.setgroups!(groups);
  process.setgid!(gid);
  process.setuid!(uid);
}
