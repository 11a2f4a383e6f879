/**
 * Preloaded (`node --require`) into the SDK child so that it cannot reach any host but the
 * loopback emulator, and so that the parent can see every connection it tried.
 *
 * Every TCP/TLS client connection in Node (http, https, undici's fetch, tls) goes through
 * net.Socket.prototype.connect; a connection to anything but localhost / 127.0.0.1 / ::1 is
 * refused *before* any DNS lookup or packet, with code EBLOCKED_BY_TEST. DNS lookups of other
 * names are refused too. What was attempted is exposed on globalThis.__netGuard.
 */
"use strict";
const net = require("node:net");
const dns = require("node:dns");

const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);
const state = { connections: [], blocked: [], lookups: [] };
globalThis.__netGuard = state;

function blockedError(what) {
  const err = new Error(`netGuard: blocked ${what} (only loopback is allowed in this test)`);
  err.code = "EBLOCKED_BY_TEST";
  return err;
}

function targetOf(args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // node's internal normalized form [options, cb]
  if (first && typeof first === "object") {
    if (first.path) return { path: String(first.path) };
    return { host: first.host === undefined ? "localhost" : String(first.host), port: Number(first.port) };
  }
  if (typeof first === "string" && Number.isNaN(Number(first))) return { path: first };
  return { host: typeof args[1] === "string" ? args[1] : "localhost", port: Number(first) };
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const t = targetOf(args);
  if (t.path !== undefined) {
    state.connections.push({ path: t.path });
    return originalConnect.apply(this, args);
  }
  state.connections.push({ host: t.host, port: t.port });
  if (!LOOPBACK.has(t.host.toLowerCase())) {
    state.blocked.push({ host: t.host, port: t.port });
    process.nextTick(() => this.destroy(blockedError(`${t.host}:${t.port}`)));
    return this;
  }
  return originalConnect.apply(this, args);
};

function guardLookup(original) {
  return function guardedLookup(hostname, ...rest) {
    state.lookups.push(String(hostname));
    if (!LOOPBACK.has(String(hostname).toLowerCase())) {
      state.blocked.push({ lookup: String(hostname) });
      const cb = rest.find((x) => typeof x === "function");
      const err = blockedError(`DNS lookup of ${hostname}`);
      if (cb) {
        process.nextTick(() => cb(err));
        return undefined;
      }
      return Promise.reject(err);
    }
    return original.call(this, hostname, ...rest);
  };
}
dns.lookup = guardLookup(dns.lookup);
dns.promises.lookup = guardLookup(dns.promises.lookup);
