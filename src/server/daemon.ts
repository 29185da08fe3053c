import { writeFileSync, rmSync } from 'node:fs';
import { ConfigError, type RuntimeConfig, buildConfig, loadConfigFile } from '../config/load.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import { createLogger } from '../log/logger.js';
import { SocksServer } from './server.js';

export interface DaemonOptions {
  /** Config file; undefined runs the embedded default. */
  readonly configPath?: string | undefined;
  /** Written once listening, removed on exit; the OCF agent reads it. */
  readonly pidFile?: string | undefined;
}

async function loadConfig(path: string | undefined): Promise<RuntimeConfig> {
  return path === undefined ? buildConfig(DEFAULT_CONFIG, '<embedded default>') : loadConfigFile(path);
}

/**
 * Run the proxy in this process until SIGTERM/SIGINT. SIGHUP re-reads the
 * config file: a valid one takes over for new sessions, an invalid one is
 * logged and ignored. Returns the process exit code.
 */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const config = await loadConfig(options.configPath);
  const logger = createLogger(config.logoutput, config.debug);
  const server = new SocksServer(config, logger);
  try {
    await server.start();
  } catch (err) {
    logger.error((err as Error).message);
    await server.shutdown(0);
    return 1;
  }
  if (options.pidFile) writeFileSync(options.pidFile, `${process.pid}\n`);
  logger.info(`hasocks ${process.pid} ready with config ${config.source}`);

  let reloading = Promise.resolve();
  const reload = (): void => {
    reloading = reloading.then(async () => {
      if (options.configPath === undefined) {
        logger.info('SIGHUP: running on the embedded default config; nothing to reload');
        return;
      }
      try {
        const next = await loadConfigFile(options.configPath);
        await server.reload(next);
        logger.info(`reloaded config ${options.configPath}; ${server.sessionCount} open session(s) kept`);
      } catch (err) {
        const detail = err instanceof ConfigError ? err.message : (err as Error).message;
        logger.error(`reload rejected, the old config stays in force: ${detail}`);
      }
    });
  };

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      const drainMs = server.currentConfig.timeouts.drain;
      logger.info(`${signal}: stopping`);
      void reloading
        .then(() => server.shutdown(drainMs))
        .then(() => {
          if (options.pidFile) rmSync(options.pidFile, { force: true });
          logger.info('stopped');
          process.off('SIGHUP', reload);
          // Give winston a moment to flush file and syslog transports.
          logger.on('finish', () => resolve(0));
          logger.end();
          setTimeout(() => resolve(0), 500).unref();
        });
    };
    process.on('SIGHUP', reload);
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
