#!/usr/bin/env node
// ioredis and node-redis against a redis-harden bundle, configured by client.env alone:
// its variables are in the environment (as after `set -a; . ./client.env; set +a`).
//
//   node tests/clients/node/clients.js ioredis|node-redis
//
// Each client takes REDIS_URL as it is (user, password, host, port, database; the query for
// Python clients is ignored) and, for TLS, the three files client.env names: a URL cannot
// carry certificate files for Node. Prints "ok: ..." and exits 0, or "error: ..." and exits 1.
"use strict";

const fs = require("node:fs");

const env = process.env;
const key = `frameworks:node:${process.pid}`;

/** The TLS material from client.env's REDIS_TLS_* files, or null without TLS. */
function tlsFiles() {
  if (!env.REDIS_TLS_CA_FILE) return null;
  return {
    ca: fs.readFileSync(env.REDIS_TLS_CA_FILE),
    cert: fs.readFileSync(env.REDIS_TLS_CERT_FILE),
    key: fs.readFileSync(env.REDIS_TLS_KEY_FILE),
  };
}

async function ioredis() {
  const Redis = require("ioredis");
  const tls = tlsFiles();
  const r = new Redis(env.REDIS_URL, {
    ...(tls ? { tls: { ...tls, rejectUnauthorized: true } } : {}),
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    // The ready check runs INFO, which the app user may not (INFO is @dangerous).
    enableReadyCheck: false,
  });
  let cause = null;
  r.on("error", (e) => {
    cause = e;
  });
  try {
    await r.set(key, "v", "EX", 60);
    if ((await r.get(key)) !== "v") throw new Error("read back something else");
    await r.del(key);
  } catch (e) {
    throw cause || e;
  } finally {
    r.disconnect();
  }
  return `ioredis ${require("ioredis/package.json").version} SET/GET`;
}

async function nodeRedis() {
  const { createClient } = require("redis");
  const tls = tlsFiles();
  const client = createClient({
    url: env.REDIS_URL,
    socket: {
      ...(tls ? { tls: true, ...tls, rejectUnauthorized: true } : {}),
      reconnectStrategy: false,
      connectTimeout: 10000,
    },
  });
  let cause = null;
  client.on("error", (e) => {
    cause = e;
  });
  try {
    await client.connect();
    await client.set(key, "v", { EX: 60 });
    if ((await client.get(key)) !== "v") throw new Error("read back something else");
    await client.del(key);
  } catch (e) {
    throw cause || e;
  } finally {
    if (client.isOpen) await client.quit();
  }
  return `node-redis ${require("redis/package.json").version} SET/GET`;
}

const modes = { ioredis, "node-redis": nodeRedis };
const run = modes[process.argv[2]];
if (!run) {
  console.error(`usage: clients.js ${Object.keys(modes).join("|")}`);
  process.exit(2);
}
run().then(
  (said) => console.log(`ok: ${said}`),
  (e) => {
    console.log(`error: ${e.code || e.name}: ${e.message}`);
    process.exit(1);
  },
);
