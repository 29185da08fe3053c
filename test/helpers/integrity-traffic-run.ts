// Integrity traffic (integrity-traffic.ts) run inside a namespace of the
// cluster lab, where the test process has no route: the target and the
// clients both live here. cluster-client.ts starts it from its compiled
// form (dist/test/helpers/, built by test/run.sh) and drives it:
//   argv[2]: the options, as JSON (RunOptions);
//   stdin, one JSON line each: {"lanes": N} to run N lanes, {"stop": true} to stop;
//   stdout, one JSON line each: {"ready": true} once the target listens,
//     {"started": ClientView} and {"ended": ClientView} for every session,
//     and after a stop {"done": {"targets": TargetView[], "headerless": N}}.
import { createInterface } from 'node:readline';
import { Traffic, type TrafficOptions, startIntegrityTarget } from './integrity-traffic.js';

export interface RunOptions extends Pick<TrafficOptions, 'proxy' | 'target' | 'maxBytes'> {
  readonly stallMs: number;
  /** Session `id` connects from this address and port firstSourcePort + id, so the proxy's log names each one; keep below the namespace's ephemeral ports. */
  readonly sourceAddress: string;
  /** Unset: the kernel picks each session's port, for runs longer than the ports between firstSourcePort and 65535. */
  readonly firstSourcePort: number | undefined;
}

const options = JSON.parse(process.argv[2] ?? '{}') as RunOptions;
const say = (message: object): boolean => process.stdout.write(`${JSON.stringify(message)}\n`);
const target = await startIntegrityTarget(options.target.host, options.target.port);
const traffic = new Traffic({
  proxy: options.proxy,
  target: { host: options.target.host, port: target.port },
  maxBytes: options.maxBytes,
  stallMs: options.stallMs,
  source: (id) => ({ localAddress: options.sourceAddress, ...(options.firstSourcePort === undefined ? {} : { localPort: options.firstSourcePort + id }) }),
  onStart: (session) => say({ started: session }),
  onEnd: (session) => say({ ended: session }),
});
say({ ready: true });
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { lanes?: number; stop?: true };
  if (command.lanes !== undefined) traffic.setLanes(command.lanes);
  if (command.stop) break;
}
await traffic.stop();
await target.close();
// Exit once the last line has gone into the pipe: a write to a pipe may still be queued when it returns.
process.stdout.write(`${JSON.stringify({ done: { targets: [...target.sessions.values()], headerless: target.headerless() } })}\n`, () => process.exit(0));
