/**
 * Fidelity of the blob data plane: Microsoft's @azure/storage-blob ContainerClient, authorized by @azure/identity's
 * ManagedIdentityCredential against the emulated IMDS, lists the emulator's container, and gets the service's
 * AuthorizationPermissionMismatch (as a RestError) when the identity lacks the dataAction. Same knobs as sdk.test.ts:
 * a separate node process behind netGuard.cjs, AZURE_POD_IDENTITY_AUTHORITY_HOST and NODE_EXTRA_CA_CERTS only.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";

import { AzureEmulator, READER_ROLE_ID } from ".";
import { STORAGE_BLOB_DATA_READER } from "../../components/roles";

const emu = new AzureEmulator();
let containerUrl = "";
let accountId = "";
beforeAll(async () => {
  await emu.start();
  const sa = emu.addStorageAccount({ name: "idlabsdk1", containers: ["probe"] });
  accountId = sa.id;
  containerUrl = emu.containerUrl("idlabsdk1", "probe", true);
});
afterAll(() => emu.stop());

function listWithSdk(): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--require", join(__dirname, "netGuard.cjs"), join(__dirname, "sdkBlob.cjs")],
      {
        cwd: join(__dirname, "..", ".."),
        env: {
          PATH: process.env.PATH ?? "",
          NODE_EXTRA_CA_CERTS: emu.caCertPath,
          AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsUrl,
          EMU_CLIENT_ID: emu.vmIdentity!.clientId,
          EMU_CONTAINER_URL: containerUrl,
        },
        timeout: 25_000,
      },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout.trim().split("\n").pop()!));
      },
    );
  });
}

test("without the dataAction the SDK sees 403 AuthorizationPermissionMismatch; with Storage Blob Data Reader it lists", async () => {
  emu.assignRole({ scope: accountId, roleDefinitionId: READER_ROLE_ID, principalId: emu.vmIdentity!.principalId });
  expect(await listWithSdk()).toEqual({ error: { name: "RestError", code: "AuthorizationPermissionMismatch", statusCode: 403 } });
  emu.assignRole({ scope: accountId, roleDefinitionId: STORAGE_BLOB_DATA_READER.guid, principalId: emu.vmIdentity!.principalId });
  expect(await listWithSdk()).toEqual({ ok: { containerName: "probe", blobs: 0 } });
  const calls = emu.requests.filter((q) => q.server === "blob");
  expect(calls.map((q) => q.status)).toEqual([403, 200]);
  // The SDK's own request: List Blobs on the container, with the storage audience's token.
  expect(calls[1].query).toMatchObject({ restype: "container", comp: "list" });
  expect(calls[1].callerObjectId).toBe(emu.vmIdentity!.principalId);
}, 60_000);
