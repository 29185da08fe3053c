#!/usr/bin/env node
// TCP and UDP servers that answer every message with the sender's address
// ("you are 10.0.0.1:4242"), so a test sees which source address the proxy
// used. Prints "ready" once both listen. With "echo" they echo instead
// (targets for hasocks drill). usage: whoami-servers.mjs ADDR PORT [echo]
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

const [address, port, mode] = process.argv.slice(2);
const echo = mode === 'echo';
const tcp = createServer((s) => {
  s.on('error', () => undefined);
  s.on('data', (data) => s.write(echo ? data : `you are ${s.remoteAddress}:${s.remotePort}`));
});
const udp = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
udp.on('message', (msg, rinfo) => udp.send(echo ? msg : `you are ${rinfo.address}:${rinfo.port}`, rinfo.port, rinfo.address));
tcp.listen(Number(port), address, () => udp.bind(Number(port), address, () => console.log('ready')));
