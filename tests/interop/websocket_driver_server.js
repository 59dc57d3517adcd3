// A websocket-driver echo server on a bare TCP server (the driver parses the HTTP
// request itself, with http-parser-js), on 127.0.0.1 and a free port; prints
// "listening PORT". The driver answers every request: a 101, or its own refusal.
const net = require('net');
const websocket = require('websocket-driver');

const server = net.createServer((connection) => {
  const driver = websocket.server();
  driver.on('connect', () => driver.start());
  driver.on('close', () => connection.end());
  connection.on('error', () => {}); // a peer gone mid-write ends that socket, not the server
  connection.pipe(driver.io).pipe(connection);
  driver.messages.pipe(driver.messages); // echo
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.stdin.on('end', () => process.exit(0)); // the test closes stdin to stop it
process.stdin.resume();
