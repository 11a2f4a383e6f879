/** Probe reports as scripts/Invoke-IdentityProbe.ps1 writes them (probe/contract.md). */
import { SUBSCRIPTION_ID, TENANT_ID, VM_PRINCIPAL_ID } from "./mockAzure";

/** The VM identity's claims, as the probe decodes them from its token. */
function identity(rg: string) {
  return {
    objectId: VM_PRINCIPAL_ID,
    tenantId: TENANT_ID,
    resourceId: `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/${rg}/providers/Microsoft.Compute/virtualMachines/idlab-vm`,
    audience: "https://management.azure.com/",
    expiresOn: "2026-11-29T17:03:00Z",
  };
}

export function successReport(rg: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    schema: "identitylab.probe/v1",
    ok: true,
    resourceGroup: {
      id: `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${rg}`,
      name: rg,
      location: "eastus2",
      provisioningState: "Succeeded",
      tags: { lab: "identity-lab" },
    },
    identity: identity(rg),
    permissions: [{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }],
    attempts: { imds: 1, resourceGroup: 4, permissions: 1 },
    elapsedSeconds: 17.3,
    trimmed: [],
    error: null,
    ...extra,
  });
}

export function forbiddenReport(rg: string): string {
  return JSON.stringify({
    schema: "identitylab.probe/v1",
    ok: false,
    resourceGroup: null,
    identity: identity(rg),
    permissions: null,
    attempts: { imds: 1, resourceGroup: 181, permissions: 0 },
    elapsedSeconds: 900.4,
    trimmed: [],
    error: {
      phase: "resourceGroup",
      status: 403,
      code: "AuthorizationFailed",
      message: `The client '${VM_PRINCIPAL_ID}' with object id '${VM_PRINCIPAL_ID}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/read' over scope '/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${rg}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      requestId: "5c4f1b1e-8a43-4b1f-9d4e-3f1c2a7b9e10",
    },
  });
}

/** Progress lines then the report, as CSE shows stdout (real newlines). */
export function stdoutWith(report: string, progressLines = 3): string {
  const progress = Array.from({ length: progressLines }, (_, i) => `[probe] resourceGroup: attempt ${i + 1} -> 403, retrying in 5s`);
  return [...progress, report, ""].join("\n");
}
