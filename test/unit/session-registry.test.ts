// The server's registry of open sessions: O(1) add and delete by swap-remove,
// each item keeping its own slot number.
import { Registry } from '../../src/sockets/session-registry.js';

type Item = { name: string; registryIndex: number };
const item = (name: string): Item => ({ name, registryIndex: -1 });

test('add and delete in any order keep exactly the items still there, and their slots right', () => {
  const registry = new Registry<Item>();
  const [a, b, c, d] = [item('a'), item('b'), item('c'), item('d')];
  for (const x of [a, b, c, d]) registry.add(x);
  expect(registry.size).toBe(4);

  registry.delete(b); // the last item (d) moves into b's slot
  expect(registry.size).toBe(3);
  expect(b.registryIndex).toBe(-1);
  expect(registry.snapshot().map((x) => x.name).sort()).toEqual(['a', 'c', 'd']);
  for (const x of registry.snapshot()) expect(registry.snapshot()[x.registryIndex]).toBe(x);

  registry.delete(d);
  registry.delete(a);
  expect(registry.snapshot().map((x) => x.name)).toEqual(['c']);
  expect(c.registryIndex).toBe(0);
});

test('deleting twice, or deleting what was never added, changes nothing', () => {
  const registry = new Registry<Item>();
  const a = item('a');
  const b = item('b');
  registry.add(a);
  registry.add(b);
  registry.delete(a);
  registry.delete(a);
  registry.delete(item('stranger'));
  expect(registry.snapshot()).toEqual([b]);
});

test('a snapshot is a copy: items can leave while it is walked', () => {
  const registry = new Registry<Item>();
  const all = ['a', 'b', 'c'].map(item);
  for (const x of all) registry.add(x);
  for (const x of registry.snapshot()) registry.delete(x);
  expect(registry.size).toBe(0);
  expect(all.every((x) => x.registryIndex === -1)).toBe(true);
});
