export * from "./identityLab";
export * from "../probe/identityProbe";
export * from "./network";
export * from "./roleGrant";
export * from "./windowsVm";
