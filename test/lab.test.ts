// `npm run lab` as a developer runs it (test/lab/run.mjs): up builds a real
// 2-node cluster in the background and returns, exec and client reach into
// it, down removes every namespace and process. The lab's record lives in a
// file of this test's own, so a lab a developer has up is left alone.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './helpers/proxy.js';

const dir = mkdtempSync(join(tmpdir(), 'hasocks-labcli-'));
const state = join(dir, 'lab.json');
const lab = (...args: string[]) => execa(process.execPath, [join(REPO, 'test', 'lab', 'run.mjs'), ...args], { reject: false, env: { HASOCKS_LAB_STATE: state }, timeout: 240000 });

afterAll(async () => {
  if (existsSync(state)) await lab('down');
  rmSync(dir, { recursive: true, force: true });
}, 180000);

test('up 2 --layout bare, exec, client, down: a working cluster, then nothing left of it', async () => {
  const up = await lab('up', '2', '--layout', 'bare');
  expect(up.exitCode).toBe(0);
  expect(up.stdout).toMatch(/^ {2}node1 {2}10\.205\.0\.11 /m);
  expect(up.stdout).toMatch(/^ {2}node2 {2}10\.205\.0\.12 /m);
  const record = JSON.parse(readFileSync(state, 'utf8')) as { keeperPid: number; nodes: Array<{ netns: string }>; client: { netns: string } };

  const mon = await lab('exec', 'node1', 'crm_mon', '-1');
  expect(mon.exitCode).toBe(0);
  expect(mon.stdout).toMatch(/Online: \[ node1 node2 \]/);
  // One fence device per node, each running on the node it does not fence.
  expect(mon.stdout).toMatch(/fence-node1\s+\(stonith:fence_hasocks_lab\):\s+Started node2/);
  expect(mon.stdout).toMatch(/fence-node2\s+\(stonith:fence_hasocks_lab\):\s+Started node1/);
  const client = await lab('client', 'ip', '-br', 'addr');
  expect(client.stdout).toMatch(/10\.205\.0\.2\/24/);
  expect((await lab('exec', 'node9', 'true')).exitCode).toBe(2);

  const down = await lab('down');
  expect(down.exitCode).toBe(0);
  expect(existsSync(state)).toBe(false);
  const namespaces = (await execa('ip', ['netns', 'list'])).stdout;
  const switchNs = record.nodes[0]!.netns.replace(/^hc(\d+)node1$/, 'hcsw$1');
  for (const netns of [...record.nodes.map((n) => n.netns), record.client.netns, switchNs]) expect(namespaces).not.toContain(netns);
  expect(() => process.kill(record.keeperPid, 0)).toThrow();
}, 300000);
