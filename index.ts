import { IdentityLab } from "./components";
import { loadSettings } from "./settings/load";

// Validation throws before the first resource is registered: a bad config deploys nothing.
const settings = loadSettings();
const lab = new IdentityLab(settings.namePrefix, { settings });

// The lab owns the stack's contract; this only re-exports it.
export const resourceGroupName = lab.resourceGroupName;
export const vmName = lab.vmName;
export const vmId = lab.vmId;
export const principalId = lab.principalId;
export const roleAssignmentId = lab.roleAssignmentId;
export const adminUsername = lab.adminUsername;
export const adminPassword = lab.adminPassword;
export const probeStatus = lab.probeStatus;
export const probeResourceGroup = lab.probeResourceGroup;
export const probeIdentityObjectId = lab.probeIdentityObjectId;
export const probePermissions = lab.probePermissions;
export const probeAttempts = lab.probeAttempts;
export const probeElapsedSeconds = lab.probeElapsedSeconds;
export const probeProblem = lab.probeProblem;
export const setups = lab.setups;
