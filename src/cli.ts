#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Role } from './sockets/role-gate.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfigFile } from './config/load.js';
import { PACKAGE_ROOT } from './paths.js';
import { runDaemon } from './process/daemon.js';
import { setPassword } from './auth/users.js';
import { readPassword } from './read-password.js';
import { installAgent } from './install-agent.js';
import { splitHostPort } from './protocol/address.js';

const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const program = new Command()
  .name('hasocks')
  .description('A SOCKS proxy built for high availability on Pacemaker/Corosync clusters')
  .version(version)
  .showHelpAfterError();

program
  .command('serve')
  .description('run the proxy in the foreground (SIGHUP reloads the config, SIGTERM drains and stops)')
  .option('-c, --config <file>', 'JSON config file (default: the embedded loopback-only config)')
  .option('--pidfile <file>', 'write the process id here once listening')
  .option('--control-dir <dir>', 'open control.sock and socks.sock here (used by the OCF agent)')
  .addOption(new Option('--role <role>', 'start in this role (used by the OCF agent)').choices(['standalone', 'promoted', 'unpromoted']))
  .action(async (options: { config?: string; pidfile?: string; controlDir?: string; role?: Role }) => {
    try {
      process.exitCode = await runDaemon({ configPath: options.config, pidFile: options.pidfile, controlDir: options.controlDir, role: options.role });
    } catch (err) {
      console.error(err instanceof ConfigError ? err.message : `hasocks: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  });

program
  .command('check-config')
  .description('validate a config file; print every problem and exit 1 if there is any')
  .argument('<file>', 'JSON config file')
  .action(async (file: string) => {
    try {
      await loadConfigFile(file);
      console.log(`${file}: OK`);
    } catch (err) {
      console.error(err instanceof ConfigError ? err.message : `${file}: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  });

program
  .command('passwd')
  .description('add or change a user in a users file (username/password authentication); the password is read from the terminal without echo, or from stdin')
  .argument('<file>', 'users file; created with mode 0600 if missing')
  .argument('<user>', 'username')
  .action(async (file: string, user: string) => {
    try {
      const password = await readPassword(`password for ${user}: `);
      const outcome = await setPassword(file, user, password);
      console.error(`${file}: ${outcome} user "${user}"`);
    } catch (err) {
      console.error(`hasocks passwd: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  });

program
  .command('install-agent')
  .description('install the OCF resource agent as $OCF_ROOT/resource.d/hasocks/socks (ocf:hasocks:socks)')
  .option('--ocf-root <dir>', 'OCF root directory', process.env.OCF_ROOT ?? '/usr/lib/ocf')
  .action((options: { ocfRoot: string }) => {
    try {
      console.log(`installed ${installAgent(options.ocfRoot)}`);
    } catch (err) {
      console.error(`hasocks install-agent: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  });

/** "host:port" or "[v6]:port" for the drill's options. */
function endpoint(text: string): { host: string; port: number } {
  const split = splitHostPort(text);
  if (!split) throw new InvalidArgumentError(`"${text}" is not host:port`);
  return split;
}

program
  .command('drill')
  .description('measure what clients see of a failover: SOCKS sessions at a fixed rate through the proxy, outages reported when it stops (after --duration or Ctrl-C)')
  .requiredOption('--proxy <host:port>', 'the proxy, usually its VIP', endpoint)
  .requiredOption('--target <host:port>', 'a TCP echo server to CONNECT to', endpoint)
  .option('--udp-target <host:port>', 'a UDP echo server for a long-lived UDP association', endpoint)
  .option('--rate <n>', 'sessions (and datagrams) per second', (v) => Number(v), 20)
  .option('--duration <seconds>', 'stop after this long (default: until Ctrl-C)', (v) => Number(v))
  .option('--timeout <ms>', 'a probe slower than this has failed', (v) => Number(v), 1000)
  .option('--user <name>', 'username for socksmethod "username" (password from HASOCKS_DRILL_PASSWORD)')
  .option('--report <file>', 'write the JSON report here')
  .option('--svg <file>', 'write an SVG timeline here')
  .action(async (options: { proxy: { host: string; port: number }; target: { host: string; port: number }; udpTarget?: { host: string; port: number }; rate: number; duration?: number; timeout: number; user?: string; report?: string; svg?: string }) => {
    const { runDrill } = await import('./drill/drill.js');
    const { buildReport, formatReport, renderSvg } = await import('./drill/report.js');
    const drillOptions = {
      proxy: options.proxy,
      target: options.target,
      udpTarget: options.udpTarget,
      rate: options.rate,
      durationMs: options.duration === undefined ? undefined : options.duration * 1000,
      timeoutMs: options.timeout,
      credentials: options.user === undefined ? undefined : { user: options.user, password: process.env.HASOCKS_DRILL_PASSWORD ?? '' },
    };
    const startedAt = new Date();
    const run = runDrill(drillOptions);
    process.once('SIGINT', () => run.stop());
    // One live status line, rewritten in place on a terminal.
    const status = setInterval(() => {
      const s = run.snapshot();
      const state = s.down ? `DOWN for ${((s.elapsedMs - (s.downSinceMs ?? s.elapsedMs)) / 1000).toFixed(1)}s` : 'up';
      const line = `${(s.elapsedMs / 1000).toFixed(1)}s  ok ${s.ok}  failed ${s.failed}  ${state}`;
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
    }, 250);
    const results = await run.done;
    clearInterval(status);
    if (process.stderr.isTTY) process.stderr.write('\n');
    const report = buildReport(drillOptions, startedAt, results);
    console.log(formatReport(report));
    if (options.report) writeFileSync(options.report, `${JSON.stringify(report, null, 2)}\n`);
    if (options.svg) writeFileSync(options.svg, renderSvg(report));
  });

await program.parseAsync(process.argv);
