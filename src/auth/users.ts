import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, stat, writeFile, rename } from 'node:fs/promises';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCallback) as (password: Buffer | string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/**
 * The users file for RFC 1929 username/password: one "user:hash" per line,
 * the hash being "scrypt$N$r$p$salt$key" (base64). scrypt is deliberately
 * slow, so a stolen file does not give the passwords away.
 */
const COST = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;
const MAXMEM = 64 * 1024 * 1024;

export type UserTable = ReadonlyMap<string, string>;

export async function hashPassword(password: Buffer | string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, { ...COST, maxmem: MAXMEM });
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A hash to check unknown users against, so their answer takes as long as a known user's. */
let decoyHash: Promise<string> | undefined;

/**
 * Successful checks are remembered (as a digest of user, password and stored
 * hash), so a client that logs in for every session costs one scrypt, not
 * one per connection. A changed password changes the stored hash and so
 * misses the cache.
 */
const verified = new Set<string>();
const VERIFIED_MAX = 10000;

export async function verifyPassword(users: UserTable, username: string, password: Buffer): Promise<boolean> {
  const stored = users.get(username);
  const cacheKey = createHash('sha256').update(username).update('\0').update(password).update('\0').update(stored ?? '').digest('base64');
  if (stored !== undefined && verified.has(cacheKey)) return true;
  const ok = await checkHash(stored ?? (await (decoyHash ??= hashPassword(randomBytes(16)))), password);
  if (ok && stored !== undefined) {
    if (verified.size >= VERIFIED_MAX) verified.clear();
    verified.add(cacheKey);
  }
  return ok && stored !== undefined;
}

async function checkHash(stored: string, password: Buffer): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: MAXMEM });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Problems are sentences that name the line and the fix. */
export function parseUsers(text: string): { users: Map<string, string>; problems: string[] } {
  const users = new Map<string, string>();
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0 || !line.slice(colon + 1).startsWith('scrypt$') || line.slice(colon + 1).split('$').length !== 6) {
      problems.push(`line ${i + 1}: not "user:scrypt$..."; write entries with "hasocks passwd FILE USER"`);
      return;
    }
    users.set(line.slice(0, colon), line.slice(colon + 1));
  });
  return { users, problems };
}

/** Read a users file, refusing one that others can read (the hashes are secrets). */
export async function loadUsers(path: string): Promise<Map<string, string>> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new Error(`cannot read users file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist; create it with "hasocks passwd FILE USER"' : (err as Error).message}`);
  }
  if ((info.mode & 0o007) !== 0) {
    throw new Error(`users file ${path} is accessible by others (mode ${(info.mode & 0o777).toString(8)}); run "chmod 600 ${path}"`);
  }
  const { users, problems } = parseUsers(await readFile(path, 'utf8'));
  if (problems.length) throw new Error(`users file ${path}: ${problems.join('; ')}`);
  return users;
}

/** Add or change one user's entry, keeping the others and the file's mode 0600. */
export async function setPassword(path: string, username: string, password: Buffer | string): Promise<'added' | 'changed'> {
  if (!/^[^\s:#][^\s:]*$/.test(username) || Buffer.byteLength(username) > 255) {
    throw new Error(`"${username}" cannot be a username: use 1-255 bytes without spaces or ":"`);
  }
  if (Buffer.byteLength(password) === 0 || Buffer.byteLength(password) > 255) throw new Error('the password must be 1-255 bytes (RFC 1929)');
  let lines: string[] = [];
  try {
    lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const entry = `${username}:${await hashPassword(password)}`;
  const index = lines.findIndex((l) => l.startsWith(`${username}:`));
  if (index >= 0) lines[index] = entry;
  else lines.push(entry);
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, `${lines.join('\n')}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
  return index >= 0 ? 'changed' : 'added';
}
