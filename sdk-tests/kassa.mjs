// Starts a real kassa server for the SDK tests: the binary and database come from the Rust test
// that runs this suite (KASSA_BIN, KASSA_SDK_DATABASE_URL).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export async function startKassa() {
  // A kassa the Rust test already runs (e.g. over HTTPS with its development CA, which Node
  // trusts through NODE_EXTRA_CA_CERTS): the storefront's own `https://host` set-up.
  if (process.env.KASSA_SDK_BASE_URL) {
    const url = new URL(process.env.KASSA_SDK_BASE_URL);
    return {
      host: url.host,
      protocol: url.protocol.replace(':', ''),
      baseUrl: url.origin,
      clientId: process.env.KASSA_SDK_CLIENT_ID,
      clientSecret: process.env.KASSA_SDK_CLIENT_SECRET,
      stop: async () => {},
    };
  }
  const bin = process.env.KASSA_BIN;
  const databaseUrl = process.env.KASSA_SDK_DATABASE_URL;
  if (!bin || !databaseUrl) throw new Error('KASSA_BIN and KASSA_SDK_DATABASE_URL must be set');
  const port = await freePort();
  const clientId = `sdk-admin-${process.pid}`;
  const clientSecret = `sdk-secret-${Date.now()}`;
  const child = spawn(bin, ['serve'], {
    env: {
      KASSA_LISTEN: `127.0.0.1:${port}`,
      KASSA_DATABASE_URL: databaseUrl,
      KASSA_CLIENT_ID: clientId,
      KASSA_CLIENT_SECRET: clientSecret,
      KASSA_LOG: 'warn',
      // `/_kassa/` on both backends (PostgreSQL's default is off), for emulator.test.mjs.
      KASSA_EMULATOR: 'true',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      const res = await fetch(`http://${host}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`kassa exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('kassa did not become ready');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    protocol: 'http',
    baseUrl: `http://${host}`,
    clientId,
    clientSecret,
    stop: () => new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    }),
  };
}

/// A storage adapter for the generated client that keeps credentials in memory.
export function memoryStorage() {
  const values = new Map();
  return { get: (k) => values.get(k), set: (k, v) => (v === undefined ? values.delete(k) : values.set(k, v)) };
}
