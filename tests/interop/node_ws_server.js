// A Node ws echo server on 127.0.0.1 and a free port; prints "listening PORT".
// With the argument "deflate" it agrees to permessage-deflate (off by default in ws).
const { WebSocketServer } = require('ws');
const perMessageDeflate = process.argv[2] === 'deflate' ? { threshold: 0 } : false;
const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate });
server.on('listening', () => console.log(`listening ${server.address().port}`));
server.on('connection', (socket) => {
  socket.on('error', () => {}); // a peer's bad frame closes that socket (1002), not the server
  socket.on('message', (data, binary) => socket.send(data, { binary }));
});
process.stdin.on('end', () => process.exit(0)); // the test closes stdin to stop it
process.stdin.resume();
