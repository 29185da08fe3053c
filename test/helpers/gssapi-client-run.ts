// The tests' RFC 1961 client (gssapi-client.ts) as a process of its own:
// MIT Kerberos reads KRB5_CONFIG and KRB5CCNAME from the real environment,
// which jest does not change for its tests, and the cluster test runs the
// client in the lab's client namespace. gssapi.test.ts and the cluster
// test start it from its compiled form (compiled.ts):
//   argv[2]: the scenario, as JSON (GssapiScenario);
//   stdout: one JSON line, the outcome (GssapiOutcome).
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
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
  readonly withoutMutual?: boolean;
  /** After the request, send two wrapped messages as an attacker on the wire would: the first twice, or the second first. */
  readonly tamper?: 'duplicate' | 'reorder';
  /** Record the session's bytes (`recorded`): a request, then "TRANSFER;" echoed. */
  readonly record?: boolean;
  /** Instead of a client: connect and send these bytes (hex), a recording of another session. */
  readonly replay?: string;
  /** BIND instead of CONNECT: a peer connects to the address the first reply names, and bytes go both ways. */
  readonly bind?: boolean;
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
  /** How long the echo took, from the first byte sent to the last received. */
  readonly echoMs?: number;
  /** tamper: the plain bytes that came back before the proxy closed. */
  readonly echoedBack?: string;
  /** record: every byte the client sent, hex. */
  readonly recorded?: string;
  /** replay: how many bytes came back before the proxy closed. */
  readonly repliedBytes?: number;
  /** bind: the second reply's code, and whether bytes went both ways between the client and the peer intact. */
  readonly bindReply?: number;
  readonly bindRelayed?: boolean;
}

/** BIND's other half: a peer connects where the proxy listens, and a line goes each way. */
async function bindPeer(session: Awaited<ReturnType<typeof gssapiConnect>>): Promise<Pick<GssapiOutcome, 'bindReply' | 'bindRelayed'>> {
  if (session.reply !== 0) return {};
  const peer = connect(session.bound.port, session.bound.host === '0.0.0.0' ? '127.0.0.1' : session.bound.host);
  const fromClient = new Promise<string>((resolve) => {
    let text = '';
    peer.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text);
    });
  });
  const second = await session.nextReply();
  peer.write('from the peer\n');
  const atClient = (await session.receive(14)).toString();
  session.send(Buffer.from('from the client\n'));
  const atPeer = await fromClient;
  peer.destroy();
  return { bindReply: second.code, bindRelayed: atClient === 'from the peer\n' && atPeer === 'from the client\n' };
}

/** Send a recording's bytes as they are, and count what comes back until the proxy closes. */
async function replay(scenario: GssapiScenario): Promise<GssapiOutcome> {
  const socket = connect(scenario.proxy.port, scenario.proxy.host);
  let repliedBytes = 0;
  socket.on('data', (chunk: Buffer) => (repliedBytes += chunk.length));
  socket.write(Buffer.from(scenario.replay!, 'hex'));
  await new Promise((resolve) => {
    socket.on('close', resolve);
    socket.on('error', resolve);
  });
  return { repliedBytes };
}

async function run(scenario: GssapiScenario): Promise<GssapiOutcome> {
  if (scenario.replay !== undefined) return replay(scenario);
  const session = await gssapiConnect(
    {
      proxy: scenario.proxy,
      service: scenario.service,
      level: scenario.level,
      nec: scenario.nec,
      firstToken: scenario.firstToken === undefined ? undefined : Buffer.from(scenario.firstToken, 'hex'),
      withoutMutual: scenario.withoutMutual,
      record: scenario.record,
    },
    scenario.target,
    scenario.bind ? 2 : 1,
  );
  const outcome = { level: session.level, reply: session.reply, firstToken: session.firstToken.toString('hex') };
  if (scenario.bind) {
    try {
      return { ...outcome, ...(await bindPeer(session)) };
    } finally {
      session.socket.destroy();
    }
  }
  try {
    if (scenario.tamper) {
      const [first, second] = [session.seal(Buffer.from('FIRST;')), session.seal(Buffer.from('SECOND;'))];
      session.socket.write(Buffer.concat(scenario.tamper === 'duplicate' ? [first, first] : [second, first]));
      return { ...outcome, echoedBack: (await session.receiveAll().catch((err: Error) => Buffer.from(`<${err.message}>`))).toString() };
    }
    if (scenario.record) {
      session.send(Buffer.from('TRANSFER;'));
      await session.receive(9);
      session.end();
      return { ...outcome, recorded: Buffer.concat(session.sent).toString('hex') };
    }
    if (session.reply !== 0 || scenario.echoBytes === 0) return outcome;
    // A 1 MiB random block sent again and again, hashed both ways as it goes: any size without holding it all.
    const block = randomBytes(1 << 20);
    const sent = createHash('sha256');
    const received = createHash('sha256');
    const started = process.hrtime.bigint();
    const receiving = (async (): Promise<void> => {
      for (let left = scenario.echoBytes; left > 0; left -= block.length) received.update(await session.receive(Math.min(left, block.length)));
    })();
    for (let left = scenario.echoBytes; left > 0; left -= block.length) {
      const piece = block.subarray(0, Math.min(left, block.length));
      sent.update(piece);
      if (!session.send(piece)) await session.drained();
    }
    await receiving;
    const echoMs = Number(process.hrtime.bigint() - started) / 1e6;
    return { ...outcome, echoed: sent.digest('hex') === received.digest('hex'), echoMs };
  } finally {
    session.end();
    session.socket.destroy();
  }
}

const scenario = JSON.parse(process.argv[2] ?? '{}') as GssapiScenario;
const outcome = await run(scenario).catch((err: Error): GssapiOutcome => (err instanceof GssapiRefused ? { refused: err.stage } : { error: err.message }));
process.stdout.write(`${JSON.stringify(outcome)}\n`);
