// A faye-websocket echo server on Node's http server, on 127.0.0.1 and a free port;
// prints "listening PORT". Every upgrade request goes to faye (its driver answers a
// request it does not take itself); a request that asks for no upgrade never reaches
// faye, and is refused here with a plain 400.
const http = require('http');
const WebSocket = require('faye-websocket');

const server = http.createServer((request, response) => {
  response.writeHead(400, { 'Content-Type': 'text/plain' });
  response.end('not a WebSocket request');
});
server.on('upgrade', (request, socket, body) => {
  socket.on('error', () => {}); // a peer gone mid-write ends that socket, not the server
  const ws = new WebSocket(request, socket, body);
  ws.on('message', (event) => ws.send(event.data));
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.stdin.on('end', () => process.exit(0)); // the test closes stdin to stop it
process.stdin.resume();
