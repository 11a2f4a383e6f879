/**
 * Child process for emulator.sdk.test.ts: drives Microsoft's own clients against the emulator.
 *
 *   node --require ./netGuard.cjs sdkProbe.cjs      (forked with an IPC channel)
 *
 * Env: NODE_EXTRA_CA_CERTS (the emulator's PEM), AZURE_POD_IDENTITY_AUTHORITY_HOST (the emulator's
 * IMDS base URL: @azure/msal-node appends /metadata/identity/oauth2/token to it), EMU_SUBSCRIPTION_ID,
 * EMU_ARM_URL (https), EMU_RG, EMU_MISSING_RG, EMU_POLL_MS, EMU_DEADLINE_MS.
 *
 * Protocol: after the first token it sends {type:"token-ready"} and waits for {type:"granted"}
 * (the parent creates a role assignment that is still propagating), then reads the resource group
 * until the assignment takes effect. It prints one JSON line (never the token) and exits 0;
 * anything unexpected is reported in that JSON, not thrown.
 */
"use strict";
const https = require("node:https");
const { createRequire } = require("node:module");
const { ManagedIdentityCredential } = require("@azure/identity");
const { ResourceManagementClient } = require("@azure/arm-resources");
// Microsoft's REST-level client, the one @azure/arm-resources itself is built on.
const { getClient } = createRequire(require.resolve("@azure/arm-resources"))("@azure-rest/core-client");

const ARM_SCOPE = "https://management.azure.com/.default";
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`missing env ${name}`);
  return v;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function describeError(e) {
  if (!e || typeof e !== "object") return { thrown: String(e) };
  return {
    name: e.name,
    code: e.code ?? null,
    statusCode: e.statusCode ?? null,
    message: typeof e.message === "string" ? e.message.slice(0, 600) : null,
  };
}

function claimsOf(token) {
  const payload = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
  const pick = ["aud", "iss", "tid", "oid", "sub", "appid", "idtyp", "xms_mirid", "exp", "nbf"];
  return Object.fromEntries(pick.map((k) => [k, payload[k]]));
}

function guardSelfTest() {
  // A name under .invalid (RFC 6761) never resolves; the guard must refuse it before DNS.
  return new Promise((resolve) => {
    const req = https.get("https://guard-selftest.invalid/", (res) => {
      res.resume();
      resolve({ refused: false, status: res.statusCode });
    });
    req.on("error", (e) => resolve({ refused: e.code === "EBLOCKED_BY_TEST", code: e.code ?? null }));
    req.setTimeout(3000, () => req.destroy(new Error("timeout")));
  });
}

function waitForMessage(type, ms) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${type}' message within ${ms} ms`)), ms);
    process.on("message", function onMessage(m) {
      if (m && m.type === type) {
        clearTimeout(t);
        process.off("message", onMessage);
        resolve(m);
      }
    });
  });
}

async function main() {
  const out = { ok: false, steps: [] };
  const step = (name) => out.steps.push(name);
  try {
    out.guardSelfTest = await guardSelfTest();
    step("guard");

    const credential = new ManagedIdentityCredential();
    const first = await credential.getToken(ARM_SCOPE);
    out.token = {
      tokenType: first.tokenType,
      expiresOnTimestamp: first.expiresOnTimestamp,
      refreshAfterTimestamp: first.refreshAfterTimestamp ?? null,
      claims: claimsOf(first.token),
    };
    const again = await credential.getToken(ARM_SCOPE);
    out.token.secondCallSameToken = again.token === first.token;
    step("token");

    const subscriptionId = env("EMU_SUBSCRIPTION_ID");
    const endpoint = env("EMU_ARM_URL");
    const rgName = env("EMU_RG");
    const client = new ResourceManagementClient(credential, subscriptionId, { endpoint });

    process.send({ type: "token-ready" });
    await waitForMessage("granted", 10_000);
    step("granted");

    // While the new assignment propagates, ARM answers 403 AuthorizationFailed.
    const pollMs = Number(env("EMU_POLL_MS"));
    const deadline = Date.now() + Number(env("EMU_DEADLINE_MS"));
    const attempts = [];
    let rg = null;
    while (Date.now() < deadline) {
      try {
        rg = await client.resourceGroups.get(rgName);
        attempts.push({ ok: true });
        break;
      } catch (e) {
        attempts.push(describeError(e));
        if (e.statusCode !== 403) break;
        await sleep(pollMs);
      }
    }
    out.delay = { attempts };
    out.resourceGroup = rg && {
      id: rg.id,
      name: rg.name,
      type: rg.type,
      location: rg.location,
      tags: rg.tags ?? null,
      provisioningState: rg.properties?.provisioningState ?? null,
    };
    step("resourceGroup");

    try {
      await client.resourceGroups.get(env("EMU_MISSING_RG"));
      out.missing = { unexpectedlyFound: true };
    } catch (e) {
      out.missing = describeError(e);
    }
    step("missing");

    const rest = getClient(endpoint, credential, { credentials: { scopes: [ARM_SCOPE] } });
    const perms = await rest
      .path(
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Authorization/permissions",
        subscriptionId,
        rgName,
      )
      .get({ queryParameters: { "api-version": "2022-04-01" } });
    out.permissions = { status: perms.status, body: perms.body };
    step("permissions");
    out.ok = true;
  } catch (e) {
    out.error = describeError(e);
    out.error.stack = typeof e?.stack === "string" ? e.stack.split("\n").slice(0, 6).join("\n") : null;
  }
  out.net = globalThis.__netGuard ?? null;
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().finally(() => {
  if (process.connected) process.disconnect();
});
