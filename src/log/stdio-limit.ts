// The bound on a log kept on stdout or stderr when that is a file: the OCF
// agent sets it for daemon.log, which lives in /run (memory) and which
// every client that connects and goes writes to. Its own module, so that
// the agent names it without loading the logger.

/** The environment variable: at most this many bytes in the file behind stdout or stderr. */
export const STDIO_MAX_BYTES_ENV = 'HASOCKS_STDIO_MAX_BYTES';

/** The bound the environment sets, if it sets a usable one. */
export function stdioMaxBytes(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = Number(env[STDIO_MAX_BYTES_ENV]);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
