// Node stdlib HTTP/1.1 keep-alive client: GETs each URL in turn over one pooled connection, then exits.
'use strict';
const http = require('http');

const urls = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      let size = 0;
      res.on('data', (chunk) => { size += chunk.length; });
      res.on('end', () => resolve({ status: res.statusCode, size, port: req.socket.localPort }));
    });
    req.on('error', reject);
  });
}

(async () => {
  for (const url of urls) {
    const r = await get(url);
    console.log(`${r.status} ${r.size} ${r.port} ${url}`);
  }
  agent.destroy();
  console.log('DONE');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
