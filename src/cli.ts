#!/usr/bin/env node
import { Command, Option } from 'commander';
import type { Role } from './server/server.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfigFile } from './config/load.js';
import { PACKAGE_ROOT } from './paths.js';
import { runDaemon } from './server/daemon.js';
import { setPassword } from './auth/users.js';
import { readPassword } from './read-password.js';
import { installAgent } from './install-agent.js';

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

await program.parseAsync(process.argv);
