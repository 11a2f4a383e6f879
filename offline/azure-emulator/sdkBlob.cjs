// Child process of sdk.test.ts's blob case: Microsoft's @azure/storage-blob ContainerClient lists the emulator's
// container with a managed-identity credential from @azure/identity (IMDS via AZURE_POD_IDENTITY_AUTHORITY_HOST),
// exactly as an app on the VM would. Prints one JSON line: what the SDK saw.
const { ManagedIdentityCredential } = require("@azure/identity");
const { ContainerClient } = require("@azure/storage-blob");

(async () => {
  const credential = new ManagedIdentityCredential({ clientId: process.env.EMU_CLIENT_ID });
  const client = new ContainerClient(process.env.EMU_CONTAINER_URL, credential);
  const out = {};
  try {
    const page = await client.listBlobsFlat().byPage({ maxPageSize: 1 }).next();
    out.ok = { containerName: page.value.containerName, blobs: page.value.segment.blobItems.length };
  } catch (e) {
    out.error = { name: e.name, code: e.code, statusCode: e.statusCode };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})();
