import { removePidFile, writePrivateFile } from '../private-files.js';
import { ConfigError, type RuntimeConfig, buildConfig, configFromText, loadConfigFile, readConfigText } from '../config/load.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import { type Logger, createLogger, flush, openOutputs, reopenOutputs, useOutputs, logStartupFailure } from '../log/logger.js';
import { dropPrivileges } from './privileges.js';
import { SocksServer } from '../sockets/server.js';
import { cancelLookups } from '../session/resolve.js';
import { answerControl, openControlSockets } from './control.js';
import { descriptorWarning } from '../sockets/descriptors.js';
import { dataPath, describeDataPath } from '../sockets/data-path.js';
import type { Socket } from 'node:net';
import { runSupervisor } from './supervisor.js';
import { type DaemonOptions, WORKER_ENV, type WorkerMessage, type WorkerReply, dieWithSupervisor, inheritedListeners } from './worker-protocol.js';

const embeddedDefault = (): RuntimeConfig => buildConfig(DEFAULT_CONFIG, '<embedded default>');

/**
 * Run hasocks until SIGTERM/SIGINT: one serving process, or with
 * `"workers": N` a supervisor and N workers (see supervisor.ts). Returns the
 * process exit code.
 */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const worker = process.env[WORKER_ENV];
  if (worker !== undefined) {
    const config = await configFromSupervisor(options.configPath);
    return serve(config, createLogger(config.logoutput, config.debug, `worker ${worker} ${process.pid}`), options, true);
  }
  const path = options.configPath;
  const text = path === undefined ? undefined : await readConfigText(path);
  const config = path === undefined || text === undefined ? embeddedDefault() : await configFromText(text, path);
  if (config.workers > 1) return runSupervisor(config, text, options);
  return serve(config, createLogger(config.logoutput, config.debug), options, false);
}

/** A worker's config: the text its supervisor read and sent first of all, never the file (supervisor.ts says why). */
function configFromSupervisor(path: string | undefined): Promise<RuntimeConfig> {
  if (path === undefined) return Promise.resolve(embeddedDefault());
  return new Promise((resolve, reject) => {
    const onMessage = (message: WorkerMessage): void => {
      if (message.configText === undefined) return;
      done();
      resolve(configFromText(message.configText, path));
    };
    const onDisconnect = (): void => {
      done();
      reject(new Error('the supervisor went away before it sent the config'));
    };
    const done = (): void => {
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
    };
    process.on('message', onMessage);
    process.on('disconnect', onDisconnect);
  });
}

/**
 * One serving process. SIGHUP re-reads the config file: a valid one takes
 * over for new sessions, an invalid one is logged and ignored. SIGTERM
 * drains. A worker also stops when its supervisor goes away.
 */
async function serve(config: RuntimeConfig, logger: Logger, options: DaemonOptions, isWorker: boolean): Promise<number> {
  try {
    const path = dataPath();
    if (isWorker) dieWithSupervisor(path.addon);
    else logger.info(describeDataPath(path)); // the supervisor said it for its workers
  } catch (err) {
    logStartupFailure(logger, (err as Error).message);
    await flush(logger);
    return 1;
  }
  const server = new SocksServer(config, logger, isWorker ? inheritedListeners() : undefined);
  if (options.role) server.setRole(options.role);
  let closeControl = (): void => undefined;

  // Reloads run one after another, and only once the server has started;
  // each resolves, or rejects with why the old config stays.
  let markStarted: () => void = () => undefined;
  let reloading: Promise<void> = new Promise((resolve) => (markStarted = resolve));
  let configPath = options.configPath;
  const applyReload = (newPath?: string, text?: string): Promise<void> => {
    const attempt = reloading.then(async () => {
      const path = newPath ?? configPath;
      if (path === undefined) {
        logger.info('reload: running on the embedded default config; nothing to reload');
        return;
      }
      try {
        const next = text === undefined ? await loadConfigFile(path) : await configFromText(text, path);
        // Opened first: an output that cannot be opened rejects the reload before anything changed.
        const outputs = openOutputs(next.logoutput, logger.transports);
        try {
          await server.reload(next);
        } catch (err) {
          for (const output of outputs) if (!logger.transports.includes(output)) output.close?.();
          throw err;
        }
        useOutputs(logger, outputs, next.debug);
        const shortfall = descriptorWarning(next.sessionMax);
        if (shortfall) logger.warn(shortfall);
        configPath = path;
        logger.info(`reloaded config ${path}; ${server.sessionCount} open session(s) kept`);
      } catch (err) {
        // One line: a log line never holds a newline (logger.ts).
        const detail = err instanceof ConfigError ? `${err.file}: ${err.problems.join('; ')}` : (err as Error).message;
        logger.error(`reload rejected, the old config stays in force: ${detail}`);
        // A SIGHUP is also logrotate's: the old config's files are reopened all the same.
        reopenOutputs(logger, server.currentConfig.logoutput, server.currentConfig.debug);
        throw new Error(detail);
      }
    });
    reloading = attempt.catch(() => undefined);
    return attempt;
  };
  const reload = (): void => void applyReload().catch(() => undefined);

  let stopping = false;
  let resolveExit: (code: number) => void = () => undefined;
  const exit = new Promise<number>((resolve) => (resolveExit = resolve));
  const stop = (why: string, drainMs?: number): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${why}: stopping`);
    closeControl();
    void reloading
      .then(() => server.shutdown(drainMs ?? server.currentConfig.timeouts.drain))
      .then(async () => {
        // No session is left to want an answer; a query to a silent DNS server would hold the exit.
        cancelLookups();
        if (!isWorker) removePidFile(options.pidFile);
        logger.info('stopped');
        process.off('SIGHUP', onSighup);
        await flush(logger);
        if (isWorker) process.disconnect?.();
        resolveExit(0);
      });
  };
  // Signals are handled before anyone can learn that this process is ready
  // (pid file, "ready" message): a SIGHUP that came first would kill it. A
  // worker reloads only the text its supervisor hands it; a SIGHUP of its
  // own (its whole process group signalled) must not load a file the
  // supervisor may have rejected.
  const onSighup = isWorker ? (): void => undefined : reload;
  process.on('SIGHUP', onSighup);
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (isWorker) process.on('disconnect', () => stop('supervisor gone'));

  try {
    await server.start();
    const handlers = { reload: (path?: string, text?: string) => applyReload(path, text), shutdown: (drainMs: number | undefined) => stop('shutdown requested', drainMs) };
    if (isWorker) {
      // The supervisor forwards control requests and probe connections over IPC.
      process.on('message', (message: WorkerMessage, handle?: Socket) => {
        if (message.probe && handle) server.acceptLocal(handle);
        else if (message.control) void answerControl(server, handlers, message.control, message.configText).then((reply) => process.send?.({ id: message.id, reply } satisfies WorkerReply));
      });
    } else if (options.controlDir) {
      closeControl = await openControlSockets(options.controlDir, logger, (request) => answerControl(server, handlers, request), (socket) => server.acceptLocal(socket));
    }
    if (!isWorker && options.pidFile) writePrivateFile(options.pidFile, `${process.pid}\n`, 0o644);
    if (config.user) {
      dropPrivileges(config.user);
      if (isWorker) dieWithSupervisor(dataPath().addon); // the kernel dropped the request with the old credentials
    }
  } catch (err) {
    logStartupFailure(logger, (err as Error).message);
    process.off('SIGHUP', onSighup);
    await server.shutdown(0);
    await flush(logger);
    return 1;
  }
  markStarted();
  const shortfall = descriptorWarning(config.sessionMax);
  if (shortfall) logger.warn(shortfall);
  logger.info(`hasocks ${process.pid} ready with config ${config.source}${config.user ? ` as user ${config.user}` : ''}`);
  process.send?.({ ready: process.pid } satisfies WorkerReply);
  return exit;
}
