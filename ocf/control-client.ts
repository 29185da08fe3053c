// The client of this node's daemon's control socket (JSON lines), for the
// agent and the tests. The SOCKS probes over socks.sock use the shared
// client in src/client/.
import { connect } from 'node:net';
import type { ControlReply, ControlRequest } from '../src/process/control-protocol.js';

/** One JSON request on control.sock; resolves with the reply, rejects on timeout or error. */
export function control(path: string, request: ControlRequest, timeoutMs = 2000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(data) as ControlReply);
      } catch {
        reject(new Error(`unreadable answer on ${path}: ${data.slice(0, 80)}`));
      }
    });
  });
}

