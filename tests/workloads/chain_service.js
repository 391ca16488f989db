// One link of a service chain, in Node (the counterpart of chain_service.py): GET /work calls the
// next service's /work, if any, over a keep-alive agent and answers 200 "NAME > <next's body>".
// The downstream request is issued synchronously in the request handler, in the same tick that
// read the request. No tracing code and no header forwarding.
//
//   node chain_service.js --name NAME [--next http(s)://127.0.0.1:PORT [--ca FILE]]
//                         [--cert FILE --key FILE] [--port PORT | PORT]
//
// --cert/--key: serve HTTPS (Node's own OpenSSL: memory BIOs, no socket syscall inside a TLS call).
// An https --next is called over TLS, verified against --ca.
//
// Port 0 (the default) picks a free one. Prints "READY <port>" once it listens.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const { parseArgs } = require('node:util');

const { values, positionals } = parseArgs({
  options: {
    name: { type: 'string' },
    next: { type: 'string' },
    port: { type: 'string', default: '0' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
  allowPositionals: true,
});
if (!values.name) throw new Error('--name is required');
const name = values.name;
const port = Number(positionals[0] ?? values.port);
const nextTls = (values.next ?? '').startsWith('https:');
const client = nextTls ? https : http;
const agent = nextTls
  ? new https.Agent({ keepAlive: true, ca: values.ca ? fs.readFileSync(values.ca) : undefined })
  : new http.Agent({ keepAlive: true });

function reply(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function callNext(done) {
  const req = client.get(`${values.next}/work`, { agent }, (res) => {
    const chunks = [];
    res.on('data', (chunk) => chunks.push(chunk));
    res.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      done(res.statusCode === 200 ? null : new Error(`next service answered ${res.statusCode}: ${body}`), body);
    });
  });
  req.on('error', (err) => done(err));
}

const handler = (req, res) => {
  req.resume();
  if (req.url.split('?')[0] !== '/work') return reply(res, 404, 'not found\n');
  if (!values.next) return reply(res, 200, name);
  callNext((err, body) => {
    if (err) return reply(res, 502, `${name}: ${err.message}\n`);
    reply(res, 200, `${name} > ${body}`);
  });
};
const server = values.cert
  ? https.createServer({ cert: fs.readFileSync(values.cert), key: fs.readFileSync(values.key) }, handler)
  : http.createServer(handler);

process.on('SIGTERM', () => process.exit(0));
// Longer than Node's 5 s default, so that a keep-alive caller never sees an idle close mid-test.
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
