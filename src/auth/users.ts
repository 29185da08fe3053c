import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, stat, writeFile, rename } from 'node:fs/promises';
import { promisify } from 'node:util';
import { clientKey, passwordChecks } from './thread-pool.js';

const scrypt = promisify(scryptCallback) as (password: Buffer | string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/**
 * The users file for RFC 1929 username/password: one "user:hash" per line,
 * the hash being "scrypt$N$r$p$salt$key" (base64). scrypt is deliberately
 * slow, so a stolen file does not give the passwords away.
 */
const COST = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;
const MAXMEM = 64 * 1024 * 1024;

/**
 * What an entry may hold. Every entry is checked against these when the
 * file loads, so that none can make a check fail or run away: a key of
 * zero bytes would match every password, and parameters scrypt refuses, or
 * that take minutes, must never reach it.
 */
const LIMITS = { maxN: 1 << 20, maxR: 32, maxP: 16, minSalt: 8, minKey: 16, maxKey: 64 };

/** One user's stored hash, checked and decoded at load. */
export interface StoredHash {
  /** The entry as written, "scrypt$...". */
  readonly text: string;
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

export type UserTable = ReadonlyMap<string, StoredHash>;

/** A username the file format can hold: 1-255 bytes, no whitespace or ":", not starting with "#". */
export function usernameProblem(username: string): string | undefined {
  if (!/^[^\s:#][^\s:]*$/.test(username) || Buffer.byteLength(username) > 255) return `"${username}" cannot be a username: use 1-255 bytes without spaces or ":", not starting with "#"`;
  return undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decode "scrypt$N$r$p$salt$key", or say what is wrong with it. */
export function parseHash(text: string): StoredHash | { problem: string } {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return { problem: 'the hash is not "scrypt$N$r$p$salt$key"' };
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const whole = (value: string): number => (/^[1-9][0-9]{0,8}$/.test(value) ? Number(value) : NaN);
  const N = whole(n);
  const R = whole(r);
  const P = whole(p);
  if (!(N >= 2 && N <= LIMITS.maxN && (N & (N - 1)) === 0)) return { problem: `N=${n} must be a power of two from 2 to ${LIMITS.maxN}` };
  if (!(R >= 1 && R <= LIMITS.maxR)) return { problem: `r=${r} must be from 1 to ${LIMITS.maxR}` };
  if (!(P >= 1 && P <= LIMITS.maxP)) return { problem: `p=${p} must be from 1 to ${LIMITS.maxP}` };
  // scrypt needs about 128 * N * r bytes and refuses more than maxmem.
  if (128 * N * R > MAXMEM) return { problem: `N=${n} and r=${r} need more than ${MAXMEM / 1024 / 1024} MB` };
  if (!BASE64.test(salt) || !BASE64.test(key)) return { problem: 'the salt and the key must be base64' };
  const saltBytes = Buffer.from(salt, 'base64');
  const keyBytes = Buffer.from(key, 'base64');
  if (saltBytes.length < LIMITS.minSalt) return { problem: `the salt must be at least ${LIMITS.minSalt} bytes` };
  if (keyBytes.length < LIMITS.minKey || keyBytes.length > LIMITS.maxKey) return { problem: `the key must be ${LIMITS.minKey}-${LIMITS.maxKey} bytes` };
  return { text, N, r: R, p: P, salt: saltBytes, key: keyBytes };
}

export async function hashPassword(password: Buffer | string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, { ...COST, maxmem: MAXMEM });
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A hash to check unknown users against, so their answer takes as long as a known user's. */
let decoyHash: Promise<StoredHash> | undefined;

/**
 * Successful checks are remembered (as a digest of user, password and stored
 * hash), so a client that logs in for every session costs one scrypt, not
 * one per connection. A changed password changes the stored hash and so
 * misses the cache.
 */
const verified = new Set<string>();
const VERIFIED_MAX = 10000;

/**
 * Is this the user's password? Unknown users take as long as known ones.
 * Checks wait for their share of the thread pool (thread-pool.ts), in turn
 * with other clients' (`client` is the address asking; undefined for the
 * agent's own probe, which never waits behind clients); one still waiting
 * at `deadline` (ms since the epoch) is refused.
 */
export async function verifyPassword(users: UserTable, username: string, password: Buffer, client: string | undefined, deadline = Infinity): Promise<boolean> {
  // scrypt keys HMAC with the password, and HMAC pads a short key with zero bytes: "pw" and "pw\0" would
  // hash alike. No stored password holds a NUL (setPassword refuses one), so a password with one is wrong.
  if (password.includes(0)) return false;
  const stored = users.get(username);
  const cacheKey = createHash('sha256').update(username).update('\0').update(password).update('\0').update(stored?.text ?? '').digest('base64');
  if (stored !== undefined && verified.has(cacheKey)) return true;
  const hash = stored ?? (await (decoyHash ??= hashPassword(randomBytes(16)).then((text) => parseHash(text) as StoredHash)));
  const check = (): Promise<Buffer> => scrypt(password, hash.salt, hash.key.length, { N: hash.N, r: hash.r, p: hash.p, maxmem: MAXMEM });
  const actual = await (client === undefined ? check() : passwordChecks.run(clientKey(client), check, deadline));
  const ok = timingSafeEqual(actual, hash.key) && stored !== undefined;
  if (ok) {
    if (verified.size >= VERIFIED_MAX) verified.clear();
    verified.add(cacheKey);
  }
  return ok;
}

/** Every entry of a users file, and its problems as sentences that name the line and the fix. */
export function parseUsers(text: string): { users: Map<string, StoredHash>; problems: string[]; lineOf: Map<string, number> } {
  const users = new Map<string, StoredHash>();
  const lineOf = new Map<string, number>();
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      problems.push(`${where}: not "user:scrypt$..."; write entries with "hasocks passwd FILE USER"`);
      return;
    }
    const username = line.slice(0, colon);
    const badName = usernameProblem(username);
    if (badName) {
      problems.push(`${where}: ${badName}`);
      return;
    }
    const hash = parseHash(line.slice(colon + 1));
    if ('problem' in hash) {
      problems.push(`${where}: user "${username}": ${hash.problem}; set the password again with "hasocks passwd FILE ${username}"`);
      return;
    }
    const earlier = lineOf.get(username);
    if (earlier !== undefined) {
      problems.push(`${where}: user "${username}" is already on line ${earlier}; remove one of the two`);
      return;
    }
    users.set(username, hash);
    lineOf.set(username, i + 1);
  });
  return { users, problems, lineOf };
}

/** Read a users file, refusing one that others can read (the hashes are secrets) or that has a bad entry. */
export async function loadUsers(path: string): Promise<Map<string, StoredHash>> {
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

/**
 * Add or change one user's entry, keeping the others and the file's mode
 * 0600. A malformed entry of this same user is replaced; a bad entry of
 * anyone else stops the change, since the file would not load either way.
 */
export async function setPassword(path: string, username: string, password: Buffer | string): Promise<'added' | 'changed'> {
  const badName = usernameProblem(username);
  if (badName) throw new Error(badName);
  if (Buffer.byteLength(password) === 0 || Buffer.byteLength(password) > 255) throw new Error('the password must be 1-255 bytes (RFC 1929)');
  if (Buffer.from(password).includes(0)) throw new Error('the password must not hold a NUL byte');
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const isThisUser = (line: string): boolean => line.trim().startsWith(`${username}:`);
  const problems = parseUsers(lines.map((line) => (isThisUser(line) ? '' : line)).join('\n')).problems;
  if (problems.length > 0) throw new Error(`${path} has entries hasocks cannot use; fix them first: ${problems.join('; ')}`);
  const entry = `${username}:${await hashPassword(password)}`;
  const kept: string[] = [];
  let replaced = false;
  for (const line of lines) {
    if (!isThisUser(line)) kept.push(line);
    else if (!replaced) {
      kept.push(entry);
      replaced = true;
    }
  }
  if (!replaced) kept.push(entry);
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, `${kept.join('\n')}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
  return replaced ? 'changed' : 'added';
}
