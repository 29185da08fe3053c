#!/usr/bin/env node
// Speak one SOCKS5 CONNECT and print the reply code as two hex digits, or
// "closed" if the server closed without a reply. Tests run it inside a
// network namespace, where the test process itself cannot open sockets.
// usage: socks-probe.mjs PROXY_PORT HOST PORT
import { connect } from 'node:net';

const [proxyPort, host, port] = process.argv.slice(2);
const socket = connect({ host: '127.0.0.1', port: Number(proxyPort) });
let atyp;
let address;
if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) {
  atyp = 1;
  address = Buffer.from(host.split('.').map(Number));
} else {
  atyp = 3;
  address = Buffer.concat([Buffer.from([host.length]), Buffer.from(host)]);
}
const portBytes = Buffer.alloc(2);
portBytes.writeUInt16BE(Number(port));
socket.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, atyp]), address, portBytes]));
let received = Buffer.alloc(0);
socket.on('data', (chunk) => {
  received = Buffer.concat([received, chunk]);
  if (received.length >= 4) {
    console.log(received[3].toString(16).padStart(2, '0'));
    socket.destroy();
  }
});
socket.on('close', () => {
  if (received.length < 4) console.log('closed');
});
setTimeout(() => {
  console.log('timeout');
  process.exit(1);
}, 20000).unref();
