export * from "./identityLab";
export * from "./identityProbe";
export * from "./network";
export * from "./roleGrant";
export * from "./windowsVm";
