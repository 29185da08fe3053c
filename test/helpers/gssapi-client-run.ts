// The tests' RFC 1961 client (gssapi-client.ts) as a process of its own:
// MIT Kerberos reads KRB5_CONFIG and KRB5CCNAME from the real environment,
// which jest does not change for its tests, and the cluster test runs the
// client in the lab's client namespace. gssapi.test.ts and the cluster
// test start it from its compiled form (compiled.ts):
//   argv[2]: the scenario, as JSON (GssapiScenario);
//   stdout: one JSON line, the outcome (GssapiOutcome).
import { createHash, randomBytes } from 'node:crypto';
import { GssapiRefused, gssapiConnect } from './gssapi-client.js';

export interface GssapiScenario {
  readonly proxy: { readonly host: string; readonly port: number };
  readonly service: string;
  readonly level: number;
  readonly nec?: boolean;
  /** Send this first token (hex) instead of a fresh one: a replay. */
  readonly firstToken?: string;
  /** An echo server: what goes through comes back. */
  readonly target: { readonly host: string; readonly port: number };
  /** How many bytes to send through and check on their way back (0: none). */
  readonly echoBytes: number;
}

export interface GssapiOutcome {
  /** The stage at which the proxy refused (01 ff, or a close). */
  readonly refused?: string;
  /** Anything else that went wrong, the client's own failures included. */
  readonly error?: string;
  readonly level?: number;
  readonly reply?: number;
  /** The AP-REQ sent, hex, for a replay. */
  readonly firstToken?: string;
  /** Whether the echoed bytes came back the same (sha256). */
  readonly echoed?: boolean;
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function run(scenario: GssapiScenario): Promise<GssapiOutcome> {
  const session = await gssapiConnect(
    { proxy: scenario.proxy, service: scenario.service, level: scenario.level, nec: scenario.nec, firstToken: scenario.firstToken === undefined ? undefined : Buffer.from(scenario.firstToken, 'hex') },
    scenario.target,
  );
  const outcome = { level: session.level, reply: session.reply, firstToken: session.firstToken.toString('hex') };
  try {
    if (session.reply !== 0 || scenario.echoBytes === 0) return outcome;
    const payload = randomBytes(scenario.echoBytes);
    const back = session.receive(payload.length);
    for (let offset = 0; offset < payload.length; offset += 1 << 20) session.send(payload.subarray(offset, offset + (1 << 20)));
    return { ...outcome, echoed: sha(await back) === sha(payload) };
  } finally {
    session.end();
    session.socket.destroy();
  }
}

const scenario = JSON.parse(process.argv[2] ?? '{}') as GssapiScenario;
const outcome = await run(scenario).catch((err: Error): GssapiOutcome => (err instanceof GssapiRefused ? { refused: err.stage } : { error: err.message }));
process.stdout.write(`${JSON.stringify(outcome)}\n`);
