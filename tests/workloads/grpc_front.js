// An HTTP/1.1 front end calling a gRPC back end (the Orders service of
// tests/fixtures/http2/grpc_peer.cpp) with @grpc/grpc-js from tests/js/node_modules: GET /order/ID
// makes the unary call Orders/Get {id: ID} on one long-lived channel and answers 200 with the
// item, or 404 when the back end says NOT_FOUND. No tracing code, no header forwarding.
//
//   node grpc_front.js --backend 127.0.0.1:PORT [--backend-ca FILE]
//
// --backend-ca: the back end speaks TLS (verified against FILE): grpc-js over Node's OpenSSL,
// memory BIOs.
//
// Prints "READY <port>" once it listens (an ephemeral port).
'use strict';
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require(path.join(__dirname, '..', 'js', 'node_modules', '@grpc', 'grpc-js'));

const fs = require('node:fs');

const { values } = parseArgs({ options: { backend: { type: 'string' }, 'backend-ca': { type: 'string' } } });
if (!values.backend) throw new Error('--backend is required');
const credentials = values['backend-ca']
  ? grpc.credentials.createSsl(fs.readFileSync(values['backend-ca']))
  : grpc.credentials.createInsecure();
const client = new grpc.Client(values.backend, credentials);

// OrderRequest {int32 id = 1}: field 1, varint. The response is read only for its item string
// (Order {int32 id = 1; string item = 2}).
function encodeRequest(id) {
  const bytes = [0x08];
  let v = id >>> 0;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}
function decodeItem(buf) {
  for (let i = 0; i < buf.length;) {
    const tag = buf[i++];
    if (tag === 0x08) {
      while (buf[i++] & 0x80);
    } else if (tag === 0x12) {
      const len = buf[i++];
      return buf.subarray(i, i + len).toString();
    } else {
      break;
    }
  }
  return '';
}

const server = http.createServer((req, res) => {
  const match = /^\/order\/(\d+)$/.exec(req.url);
  if (!match) {
    res.writeHead(404).end('no such route\n');
    return;
  }
  client.makeUnaryRequest('/zerotrace.fixture.Orders/Get', encodeRequest, (b) => b, Number(match[1]), (err, reply) => {
    if (err) {
      res.writeHead(err.code === grpc.status.NOT_FOUND ? 404 : 502).end(`${err.details}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${decodeItem(reply)}\n`);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
