// Node's own http2 client opens one WebSocket over HTTP/2 (RFC 8441): it waits for
// the server's SETTINGS, sends an extended CONNECT (:protocol websocket) once the
// server allows it, sends one masked text frame, reads the echo, closes with 1000
// and reads the server's Close. No package beyond Node itself.
//
//     node node_h2_client.js http://127.0.0.1:PORT/path      (prior knowledge)
//     node node_h2_client.js https://127.0.0.1:PORT/path CA   (ALPN h2, CA file in PEM)
//
// Prints one JSON object: the ALPN protocol, whether the server sent
// SETTINGS_ENABLE_CONNECT_PROTOCOL, the status, the echo, the Close code, or `error`.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const http2 = require("node:http2");

const [url, caFile] = process.argv.slice(2);
const result = {};
function finish(error) {
  if (error !== undefined) result.error = String(error);
  console.log(JSON.stringify(result));
  process.exit(error === undefined ? 0 : 1);
}
setTimeout(() => finish("timed out after 15 s"), 15000).unref();

// RFC 6455 §5.2-5.3: a client's frame is masked with a fresh key.
function clientFrame(opcode, payload) {
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i % 4];
  if (masked.length > 125) throw new Error("one short frame only");
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | masked.length]), key, masked]);
}

// The server's frames are unmasked; these are short (one length byte, or 126 + two).
function serverFrames(buffer) {
  const frames = [];
  let at = 0;
  while (buffer.length - at >= 2) {
    let length = buffer[at + 1] & 0x7f;
    let start = at + 2;
    if (length === 126) {
      if (buffer.length - at < 4) break;
      length = buffer.readUInt16BE(at + 2);
      start = at + 4;
    }
    if (buffer.length < start + length) break;
    frames.push({ opcode: buffer[at] & 0x0f, payload: buffer.subarray(start, start + length) });
    at = start + length;
  }
  return { frames, rest: buffer.subarray(at) };
}

const target = new URL(url);
const session = http2.connect(url, caFile ? { ca: fs.readFileSync(caFile) } : {});
session.on("error", finish);
session.once("remoteSettings", (settings) => {
  result.alpn = session.alpnProtocol;
  result.enableConnectProtocol = settings.enableConnectProtocol === true;
  if (!result.enableConnectProtocol) return finish("no SETTINGS_ENABLE_CONNECT_PROTOCOL = 1");
  const stream = session.request({
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": target.protocol.slice(0, -1),
    ":path": target.pathname,
    ":authority": target.host,
    "sec-websocket-version": "13",
    origin: target.origin,
  });
  stream.on("error", finish);
  stream.on("response", (headers) => {
    result.status = headers[":status"];
    if (result.status !== 200) return finish(`status ${result.status}`);
    stream.write(clientFrame(0x1, "hello from node http2"));
  });
  let buffered = Buffer.alloc(0);
  stream.on("data", (chunk) => {
    const { frames, rest } = serverFrames(Buffer.concat([buffered, chunk]));
    buffered = rest;
    for (const frame of frames) {
      if (frame.opcode === 0x1) {
        result.echo = frame.payload.toString("utf8");
        const code = Buffer.alloc(2);
        code.writeUInt16BE(1000);
        stream.write(clientFrame(0x8, code));
      } else if (frame.opcode === 0x8) {
        result.closeCode = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null;
        stream.end(); // END_STREAM: the TCP FIN of RFC 8441 §5
      }
    }
  });
  stream.on("end", () => {
    result.ended = true;
    session.close(() => finish());
  });
});
