// Node ws client: sends a text and a binary message, prints the echoes and the close code as JSON.
const WebSocket = require('ws');
const socket = new WebSocket(process.argv[2]);
const received = [];
socket.on('open', () => { socket.send('hello node'); socket.send(Buffer.from([1, 2, 3])); });
socket.on('message', (data, isBinary) => {
  received.push(isBinary ? Array.from(data) : data.toString());
  if (received.length === 2) socket.close(1000, 'done');
});
socket.on('close', (code) => { console.log(JSON.stringify({ received, code })); process.exit(0); });
socket.on('error', (error) => { console.log(JSON.stringify({ error: String(error) })); process.exit(1); });
