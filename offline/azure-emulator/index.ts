export * from "./azureEmulator";
export * from "./errors";
export * from "./jwt";
export * from "./rbac";
export { makeLocalhostCert, type TlsMaterial } from "./tls";
