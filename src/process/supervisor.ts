import { type ChildProcess, fork } from 'node:child_process';
import { isIPv6 } from 'node:net';
import { type RuntimeConfig, parseConfigText, readConfigText } from '../config/load.js';
import { createLogger, flush, reopenOutputs, logStartupFailure } from '../log/logger.js';
import { dataPath, describeDataPath } from '../sockets/data-path.js';
import type { NativeAddon } from '../native/addon.js';
import { CLI_PATH } from '../paths.js';
import { removePidFile, writePrivateFile } from '../private-files.js';
import { dropPrivileges } from './privileges.js';
import { openControlSockets } from './control.js';
import type { ControlReply, ControlRequest } from './control-protocol.js';
import { type DaemonOptions, type WorkerMessage, type WorkerReply, workerSpawn } from './worker-protocol.js';
import type { Role } from '../sockets/role-gate.js';
import type { Socket } from 'node:net';

/** A worker that dies this soon after starting is restarted after a pause, not at once. */
const CRASH_LOOP_MS = 1000;

/**
 * V8 heap size for workers: a small young generation keeps each scavenge
 * short, which is what holds the session p99 down (docs/performance.md,
 * "Workers get a small young generation"). The old generation keeps V8's
 * own sizing: a large initial one bought little latency and made each
 * worker's RSS a saw tooth of a hundred MiB over minutes, which a
 * dashboard, or the soak, cannot tell from a leak. Flags given to node
 * itself come after these, so they win.
 */
const WORKER_V8_FLAGS = ['--max-semi-space-size=2'];

/**
 * Dante's -N: N worker processes, each with its own SO_REUSEPORT listener on
 * every `internal` address, so the kernel spreads connections across them:
 * in turn, with the round-robin program of the native addon (reuseport_rr.c).
 *
 * The supervisor opens all listeners itself (as root, with freebind if
 * asked) and hands each worker its own set as inherited fds. It keeps its
 * copies open, so when a worker dies its listener stays in the kernel's
 * reuseport group and connections queue on it until the replacement, which
 * inherits the same sockets, accepts them: no connection is refused in
 * between. Then it drops privileges like the workers do.
 *
 * SIGHUP reloads every worker: the supervisor reads the config file and
 * hands each worker its text (workers never read the file; see
 * textInForce). SIGTERM goes to every worker. Each reloads or drains exactly
 * as a single process would. A change of `internal` needs a restart in this
 * mode.
 */
export async function runSupervisor(config: RuntimeConfig, configText: string | undefined, options: DaemonOptions): Promise<number> {
  const logger = createLogger(config.logoutput, config.debug, `supervisor ${process.pid}`);
  let addon: NativeAddon;
  try {
    const path = dataPath();
    addon = path.addon;
    logger.info(describeDataPath(path));
  } catch (err) {
    logStartupFailure(logger, (err as Error).message);
    await flush(logger);
    return 1;
  }

  // Signals can come as soon as the pid file exists; until the handlers
  // below are ready, remember them rather than die of the default action.
  const early: NodeJS.Signals[] = [];
  let onSignal = (signal: NodeJS.Signals): void => void early.push(signal);
  for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.on(signal, () => onSignal(signal));

  // listeners[w] = the fds of worker w, one per internal address, in config order.
  const listeners: number[][] = [];
  try {
    if (options.pidFile) writePrivateFile(options.pidFile, `${process.pid}\n`, 0o644);
    for (let w = 0; w < config.workers; w++) {
      listeners.push(
        config.internal.map((l) =>
          addon.tcpListener(l.host, l.port, { freebind: config.freebind, reuseport: true, ipv6only: isIPv6(l.host), backlog: 1024 }),
        ),
      );
    }
  } catch (err) {
    for (const fd of listeners.flat()) addon.close(fd);
    logStartupFailure(logger, `cannot open listeners for the workers: ${(err as Error).message}`);
    await flush(logger);
    return 1;
  }
  // The kernel's hash splits connections between workers by a coin toss
  // each, and a fuller worker gives each of its streams less (reuseport_rr.c):
  // hand them out in turn where the kernel lets us.
  config.internal.forEach((l, i) => {
    let spread = 'in turn';
    try {
      addon.reuseportRoundRobin(listeners.map((fds) => fds[i]!));
    } catch (err) {
      spread = `by the kernel's hash (round-robin unavailable: ${(err as Error).message})`;
    }
    logger.info(`listening on ${l.text} with ${config.workers} SO_REUSEPORT sockets; connections go to the workers ${spread}`);
  });

  // One count of client sessions for the node, so session.max holds for all workers together (session-budget.ts).
  let sessionCountFd: number;
  try {
    sessionCountFd = addon.sessionCountCreate();
  } catch (err) {
    for (const fd of listeners.flat()) addon.close(fd);
    logStartupFailure(logger, `cannot share the session count between workers: ${(err as Error).message}`);
    await flush(logger);
    return 1;
  }

  const workers: Array<ChildProcess | undefined> = new Array(config.workers).fill(undefined);
  let stopping = false;
  // The role every worker is in; a replacement worker starts in it too.
  let role: Role = options.role ?? 'standalone';
  let announced = false;
  const ready = new Set<number>();
  let configPath = options.configPath;
  /**
   * The text of the config the workers run (undefined: the embedded
   * default). A worker starts on it, not on the file: after a rejected
   * reload the file is not what runs, and a replacement that read it would
   * fail to start, while the kernel went on queueing clients to its
   * listener, or would run a config the others do not. It changes when
   * every serving worker has taken a new text.
   */
  let textInForce = configText;
  /** The text each worker runs, by index: what it started on, then each reload it took. */
  const running: Array<string | undefined> = [];

  const start = (w: number): void => {
    const { env, stdio } = workerSpawn(w, config.internal, listeners[w]!, sessionCountFd);
    const args = ['serve', ...(configPath ? ['--config', configPath] : []), '--role', role];
    const startedAt = Date.now();
    const child = fork(CLI_PATH, args, { env: { ...process.env, ...env }, execArgv: [...WORKER_V8_FLAGS, ...process.execArgv], stdio });
    workers[w] = child;
    running[w] = textInForce;
    if (textInForce !== undefined) child.send({ configText: textInForce } satisfies WorkerMessage);
    // A message to a worker that has just died fails here; its 'exit' restarts it.
    child.on('error', (err) => logger.error(`worker ${w + 1} (pid ${child.pid}): ${err.message}`));
    child.on('message', (message: WorkerReply) => {
      if (message.id !== undefined && message.reply) {
        pending.get(message.id)?.(message.reply);
        pending.delete(message.id);
        return;
      }
      if (message.ready === undefined) return;
      ready.add(w);
      catchUp(w);
      if (!announced && ready.size === config.workers) {
        announced = true;
        logger.info(`hasocks ${process.pid} ready with ${config.workers} workers and config ${config.source}`);
      } else if (announced) {
        logger.info(`worker ${w + 1} restarted as pid ${child.pid}`);
      }
    });
    child.on('exit', (code, signal) => {
      workers[w] = undefined;
      ready.delete(w);
      // Its sessions died with it. Their relays never ended, so no disconnect line names them: this count is their only record.
      const cut = addon.sessionCountClear(w);
      if (stopping) {
        if (workers.every((c) => c === undefined)) finish();
        return;
      }
      const quick = Date.now() - startedAt < CRASH_LOOP_MS;
      logger.error(`worker ${w + 1} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}; ${cut} open session(s) ended with it; restarting${quick ? ' in 1s' : ''}`);
      // A stop may come before the restart: the listeners are closed by then, and their
      // numbers may already belong to other descriptors, which a worker would take for its own.
      setTimeout(() => {
        if (!stopping) start(w);
      }, quick ? CRASH_LOOP_MS : 0);
    });
  };

  let listenersOpen = true;
  const closeListeners = (): void => {
    if (!listenersOpen) return;
    listenersOpen = false;
    for (const fd of listeners.flat()) addon.close(fd);
  };
  let finish: () => void = () => undefined;
  const done = new Promise<number>((resolve) => {
    finish = () => {
      closeListeners();
      removePidFile(options.pidFile);
      logger.info('stopped');
      void flush(logger).then(() => resolve(0));
    };
  });

  // Control requests are answered by every ready worker; the supervisor combines the answers.
  const pending = new Map<number, (reply: ControlReply) => void>();
  let nextId = 1;
  const ask = (child: ChildProcess, request: ControlRequest, configText?: string): Promise<ControlReply> =>
    new Promise((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve({ ok: false, error: `worker ${child.pid} did not answer` });
      }, 5000);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      child.send({ id, control: request, configText } satisfies WorkerMessage);
    });
  const serving = (): number[] => workers.flatMap((c, w) => (c !== undefined && c.connected && ready.has(w) ? [w] : []));
  /** A worker that started, or missed a reload, while the text in force changed: it reloads to it once it serves. */
  const catchUp = (w: number): void => {
    const child = workers[w];
    if (!child || !ready.has(w) || running[w] === textInForce) return;
    const text = textInForce;
    void ask(child, { cmd: 'reload', config: configPath }, text).then((reply) => {
      if (reply.ok && workers[w] === child) running[w] = text;
    });
  };
  /**
   * Reload every serving worker. The supervisor reads the file once and
   * hands each worker its text, so all judge the same bytes; if every one
   * takes it, it is the text in force. A file the supervisor cannot read
   * goes to the workers as a path: each then says why it cannot read it
   * either (they run as the same user), and reopens its log files as a
   * SIGHUP should.
   */
  const reloadWorkers = async (request: Extract<ControlRequest, { cmd: 'reload' }>): Promise<ControlReply> => {
    const path = request.config ?? configPath;
    const text = path === undefined ? undefined : await readConfigText(path).catch(() => undefined);
    const asked = serving();
    const replies = await Promise.all(asked.map((w) => ask(workers[w]!, request, text)));
    asked.forEach((w, i) => {
      if (replies[i]!.ok && text !== undefined) running[w] = text;
    });
    const failed = replies.find((r): r is { ok: false; error: string } => !r.ok);
    if (failed) return failed;
    if (asked.length === 0) return { ok: false, error: 'no worker is running' };
    if (text !== undefined) textInForce = text;
    configPath = path;
    for (let w = 0; w < workers.length; w++) catchUp(w);
    return { ok: true };
  };
  const answer = async (request: ControlRequest): Promise<ControlReply> => {
    if (request.cmd === 'shutdown') {
      // The workers get the request itself, so its drain time (0 for a demoted instance) holds.
      stop('shutdown requested', (child) => (child.connected ? void ask(child, request) : child.kill('SIGTERM')));
      return { ok: true };
    }
    if (request.cmd === 'reload') return reloadWorkers(request);
    if (request.cmd === 'promote') role = 'promoted';
    if (request.cmd === 'demote') role = 'unpromoted';
    const live = workers.filter((c): c is ChildProcess => c !== undefined && c.connected);
    const replies = await Promise.all(live.map((c) => ask(c, request)));
    const failed = replies.find((r): r is { ok: false; error: string } => !r.ok);
    if (failed) return failed;
    if (live.length === 0) return { ok: false, error: 'no worker is running' };
    if (request.cmd !== 'status') return { ok: true };
    const statuses = replies.map((r) => (r.ok ? r.status! : undefined)).filter((x) => x !== undefined);
    return {
      ok: true,
      status: {
        pid: process.pid,
        role,
        sessions: statuses.reduce((sum, st) => sum + st.sessions, 0),
        sessionMax: statuses[0]!.sessionMax,
        listeners: config.internal.map((l) => l.text),
        openFiles: Math.max(...statuses.map((st) => st.openFiles)),
        fileLimit: statuses[0]!.fileLimit,
      },
    };
  };
  // Probe connections go to the workers in turn, each handed over as a socket.
  let nextProbe = 0;
  const probe = (socket: Socket): void => {
    const live = workers.filter((c): c is ChildProcess => c !== undefined && c.connected);
    if (live.length === 0) {
      socket.destroy();
      return;
    }
    live[nextProbe++ % live.length]!.send({ probe: true } satisfies WorkerMessage, socket);
  };
  let closeControl = (): void => undefined;
  try {
    if (options.controlDir) closeControl = await openControlSockets(options.controlDir, logger, answer, probe);
    // Everything privileged is open: listeners, control sockets. Workers are forked as this user.
    if (config.user) dropPrivileges(config.user);
  } catch (err) {
    closeControl();
    closeListeners();
    logStartupFailure(logger, (err as Error).message);
    await flush(logger);
    return 1;
  }

  const reloadAll = (): void => {
    logger.info('SIGHUP: reloading every worker');
    // The supervisor's own log outputs: those of the config in force after the reload.
    void reloadWorkers({ cmd: 'reload' }).then(() => {
      let next = config;
      try {
        if (textInForce !== undefined && configPath !== undefined) next = parseConfigText(textInForce, configPath);
      } catch {
        // Every worker took this text, so it parses; the outputs of the first config stand in if it ever does not.
      }
      reopenOutputs(logger, next.logoutput, next.debug);
    });
  };
  /** Stop every worker: by SIGTERM (each drains for timeout.drain), or as `tell` says. */
  const stop = (why: string, tell: (child: ChildProcess) => void = (child) => child.kill('SIGTERM')): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${why}: stopping ${workers.filter(Boolean).length} worker(s)`);
    // New connections are refused at once, as with a single process; the workers drain.
    closeListeners();
    closeControl();
    for (const child of workers) if (child) tell(child);
    if (workers.every((c) => c === undefined)) finish();
  };
  onSignal = (signal) => (signal === 'SIGHUP' ? reloadAll() : stop(signal));
  for (const signal of early) onSignal(signal);

  for (let w = 0; w < config.workers; w++) start(w);
  return done;
}
