// Node stdlib HTTP/1.1 test server: GET /api/items/<id>, GET /health, POST /api/items (201 echo), else 404.
'use strict';
const http = require('http');

const port = Number(process.argv[2]);

function reply(res, status, body, contentType = 'application/json') {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const path = req.url.split('?')[0];
    const item = /^\/api\/items\/(\d+)$/.exec(path);
    if (req.method === 'GET' && item) {
      reply(res, 200, JSON.stringify({ id: Number(item[1]), name: `item${item[1]}` }));
    } else if (req.method === 'GET' && path === '/health') {
      reply(res, 200, 'ok', 'text/plain');
    } else if (req.method === 'POST' && path === '/api/items') {
      reply(res, 201, Buffer.concat(chunks).toString());
    } else {
      reply(res, 404, JSON.stringify({ error: 'not found' }));
    }
  });
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log(`READY ${port}`));
