#!/usr/bin/env node
// Relays TCP connections to a Unix socket: the cluster lab's fence device
// listens on the lab network (like a PDU or a BMC on the cluster network), so
// a node whose link is cut cannot fence anyone, while the lab itself, which
// powers nodes off, lives in the test process. Each connection is logged on
// stderr with a timestamp, so a fence that stalls shows where.
// usage: tcp-to-unix.mjs ADDR PORT SOCKET
import { connect, createServer } from 'node:net';

const [address, port, socketPath] = process.argv.slice(2);
createServer({ allowHalfOpen: true }, (client) => {
  console.error(`${new Date().toISOString()} connection from ${client.remoteAddress}:${client.remotePort}`);
  const upstream = connect({ path: socketPath, allowHalfOpen: true });
  client.on('error', () => upstream.destroy());
  upstream.on('error', (err) => {
    console.error(`${new Date().toISOString()} ${socketPath}: ${err.message}`);
    client.destroy();
  });
  client.pipe(upstream);
  upstream.pipe(client);
}).listen(Number(port), address, () => console.log('ready'));
