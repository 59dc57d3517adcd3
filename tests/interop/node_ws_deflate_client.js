// Node ws client with permessage-deflate: sends one large text message, prints the
// agreed extensions and whether the echo matched, as JSON.
const WebSocket = require('ws');
const socket = new WebSocket(process.argv[2], { perMessageDeflate: true, maxPayload: 0 });
const text = 'all work and no play makes a dull message '.repeat(25000).slice(0, 1 << 20);
socket.on('open', () => socket.send(text));
socket.on('message', (data) => {
  const echoed = data.toString() === text;
  socket.close(1000, 'done');
  socket.on('close', () => { console.log(JSON.stringify({ extensions: socket.extensions, echoed })); process.exit(0); });
});
socket.on('error', (error) => { console.log(JSON.stringify({ error: String(error) })); process.exit(1); });
