import { IdentityLab } from "./components";
import { loadSettings } from "./settings/load";

// Validation throws before the first resource is registered: a bad config deploys nothing.
const settings = loadSettings();
const lab = new IdentityLab(settings.namePrefix, { settings });

export const resourceGroupName = lab.resourceGroupName;
export const vmName = lab.vm.vmName;
export const vmId = lab.vm.vmId;
export const principalId = lab.vm.principalId;
export const roleAssignmentId = lab.readerGrant.roleAssignmentId;
export const adminUsername = lab.vm.adminUsername;
export const adminPassword = lab.vm.adminPassword;
export const probeStatus = lab.probe.status;
export const probeResourceGroup = lab.probe.report.apply((r) => r?.resourceGroup ?? null);
export const probeIdentityObjectId = lab.probe.report.apply((r) => r?.identity?.objectId ?? null);
export const probePermissions = lab.probe.report.apply((r) => r?.permissions ?? null);
export const probeAttempts = lab.probe.report.apply((r) => r?.attempts ?? null);
export const probeElapsedSeconds = lab.probe.report.apply((r) => r?.elapsedSeconds ?? null);
export const probeProblem = lab.probe.outcome.apply((o) => (o.status === "succeeded" ? null : { cause: o.cause, nextStep: o.nextStep }));
