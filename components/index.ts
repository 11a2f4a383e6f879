export * from "./identityLab";
export * from "./identitySetup";
export * from "./identityVm";
export * from "../probe/identityProbe";
export * from "./network";
export * from "./roleGrant";
export * from "./windowsVm";
