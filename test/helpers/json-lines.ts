import type { Readable } from 'node:stream';

/** Hand `onLines` the JSON lines a child prints on `stream`, each chunk's complete ones at once. */
export function onJsonLines(stream: Readable, onLines: (events: Array<Record<string, unknown>>) => void): void {
  let partial = '';
  stream.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    onLines(lines.map((line) => JSON.parse(line) as Record<string, unknown>));
  });
}
