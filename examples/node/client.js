#!/usr/bin/env node
// Connects to a redis-harden deployment with ioredis using nothing but client.env, and does a
// SET/GET round trip.
//
//   (cd examples/node && npm ci)
//   node examples/node/client.js deploy/production/client.env [KEY]
//
// Without an argument the variables are read from the environment (e.g. after
// `set -a; . ./client.env; set +a`). KEY defaults to "example:node"; it must match the app
// user's acl.app.keys.
"use strict";

const fs = require("node:fs");
const Redis = require("ioredis");

/** KEY=value lines; comments and blank lines skipped; double quotes around a value removed. */
function readEnvFile(path) {
  const env = {};
  for (const line of fs.readFileSync(path, "utf8").split("\n")) {
    if (!line || line.startsWith("#") || !line.includes("=")) continue;
    const i = line.indexOf("=");
    let value = line.slice(i + 1);
    // REDIS_URL is quoted (for its `&`s): drop the quotes, as a shell or dotenv would.
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    env[line.slice(0, i)] = value;
  }
  return env;
}

function options(env) {
  const opts = {
    // The ready check runs INFO, which the app user may not (it is in @dangerous): ioredis
    // would print a warning on every connect and skip it anyway. It only matters while the
    // server loads its dataset at startup, when commands fail with LOADING and are retried
    // by the application like any other transient error.
    enableReadyCheck: false,
    // Fail fast in this example instead of retrying forever.
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  };
  if (env.REDIS_TLS_CA_FILE) {
    // Node verifies the chain against our CA and checks that the URL's host is in the
    // server certificate (rejectUnauthorized is on by default; stated to be explicit).
    opts.tls = {
      ca: fs.readFileSync(env.REDIS_TLS_CA_FILE),
      cert: fs.readFileSync(env.REDIS_TLS_CERT_FILE),
      key: fs.readFileSync(env.REDIS_TLS_KEY_FILE),
      rejectUnauthorized: true,
    };
  }
  return opts;
}

let cause = null;

async function main() {
  const env = process.argv[2] ? readEnvFile(process.argv[2]) : process.env;
  const key = process.argv[3] || "example:node";
  if (!env.REDIS_URL) throw new Error("REDIS_URL is not set (pass the path to client.env)");

  // The URL carries the user, its password, host, port and database; rediss:// means TLS.
  const redis = new Redis(env.REDIS_URL, options(env));
  // Connection errors (a certificate that fails verification, a refused AUTH) arrive as
  // events; commands then only see "Connection is closed". Keep the cause for the report.
  redis.on("error", (err) => {
    cause = err;
  });
  try {
    const value = `hello from ioredis ${process.pid}`;
    await redis.set(key, value, "EX", 60);
    const got = await redis.get(key);
    if (got !== value) throw new Error(`read back ${JSON.stringify(got)}`);
    await redis.del(key);
    console.log(`ok: SET/GET ${key} round trip`);
  } finally {
    redis.disconnect();
  }
}

main().catch((err) => {
  const why = cause && cause !== err ? ` (${cause.code || cause.name}: ${cause.message})` : "";
  console.error(`error: ${err.message}${why}`);
  process.exit(1);
});
