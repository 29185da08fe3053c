import type { CommandName } from '../protocol/constants.js';
import { handleBind } from './commands/bind.js';
import { handleConnect } from './commands/connect.js';
import { handleUdpAssociate } from './commands/udp-associate.js';
import { type CommandHandler, internalError } from './request-context.js';

/**
 * The handler of each SOCKS command. A new command is a name in the codec
 * (protocol/constants.ts, parser.ts), one handler file in commands/, a line
 * here, and its rule keyword in the config schema.
 */
export const COMMAND_HANDLERS: Readonly<Record<CommandName, CommandHandler>> = {
  connect: handleConnect,
  bind: handleBind,
  udpassociate: (context, request) => void handleUdpAssociate(context, request).catch(internalError(context)),
};

