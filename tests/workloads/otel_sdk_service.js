// A chain link instrumented with the OpenTelemetry JS SDK (tests/js/node_modules): the SDK's HTTP
// instrumentation makes a SERVER span for GET /work and a CLIENT span for the call to --next, and
// injects that CLIENT span's W3C traceparent into the outgoing request. Spans are exported one
// by one (SimpleSpanProcessor) over OTLP/HTTP protobuf to --otlp.
//
//   node otel_sdk_service.js --name NAME --next http://127.0.0.1:PORT
//        --otlp http://127.0.0.1:PORT/v1/traces [--port PORT | PORT]
//
// Port 0 (the default) picks a free one. Prints "READY <port>" once it listens.
'use strict';
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values, positionals } = parseArgs({
  options: {
    name: { type: 'string' },
    next: { type: 'string' },
    otlp: { type: 'string' },
    port: { type: 'string', default: '0' },
  },
  allowPositionals: true,
});
for (const required of ['name', 'next', 'otlp']) {
  if (!values[required]) throw new Error(`--${required} is required`);
}

const modules = path.join(__dirname, '..', 'js', 'node_modules');
const sdk = (name) => require(path.join(modules, '@opentelemetry', name));
const { NodeTracerProvider, SimpleSpanProcessor } = sdk('sdk-trace-node');
const { OTLPTraceExporter } = sdk('exporter-trace-otlp-proto');
const { registerInstrumentations } = sdk('instrumentation');
const { HttpInstrumentation } = sdk('instrumentation-http');
const { resourceFromAttributes } = sdk('resources');

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': values.name }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: values.otlp }))],
});
provider.register();  // the AsyncLocalStorage context manager and the W3C propagator
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });

// Required after the instrumentation is registered, so that it is the patched module.
const http = require('http');

const port = Number(positionals[0] ?? values.port);
const agent = new http.Agent({ keepAlive: true });

function reply(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  req.resume();
  if (req.url.split('?')[0] !== '/work') return reply(res, 404, 'not found\n');
  const out = http.get(`${values.next}/work`, { agent }, (down) => {
    const chunks = [];
    down.on('data', (chunk) => chunks.push(chunk));
    down.on('end', () => reply(res, down.statusCode === 200 ? 200 : 502,
                               `${values.name} > ${Buffer.concat(chunks).toString()}`));
  });
  out.on('error', (err) => reply(res, 502, `${values.name}: ${err.message}\n`));
});

async function shutdown() {
  await provider.shutdown().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
