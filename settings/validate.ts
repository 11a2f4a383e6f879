/**
 * Validation as a composition of the rules in rules.ts: defaults applied, every
 * problem collected, so a user fixes their stack config in one pass instead of
 * one `pulumi up` per mistake. Pure: no Pulumi runtime here (load.ts reads config).
 */
import {
  PROJECT,
  DEFAULTS,
  type KeyContext,
  type LabSettings,
  type OutboundAccess,
  type ProbeFailureMode,
  type RawSettings,
} from "./schema";
import * as rules from "./rules";
import { parseIpv4Cidr } from "./cidr";
import { checkSetups } from "./setups";

// The modules' vocabulary stays importable from here, where callers found it before the split.
export * from "./schema";
export { ARM_ENDPOINTS, HOTPATCH_SKUS, IMAGE_SKUS, RESERVED_ADMIN_NAMES } from "./azureFacts";
export { parseIpv4Cidr } from "./cidr";
export { checkSetups, isTutorialShape, MAX_SETUPS } from "./setups";

export class ConfigValidationError extends Error {
  constructor(
    readonly problems: readonly string[],
    project: string = PROJECT,
  ) {
    super(
      `${project}: ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}; ` +
        `nothing was deployed:\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigValidationError";
  }
}

/** Every problem with `raw`, in the order of the keys, and the settings they would give. */
export function checkSettings(raw: RawSettings, context: KeyContext = {}): { problems: string[]; settings: LabSettings } {
  const key = rules.namer(context.project ?? PROJECT);
  const problems: string[] = [];
  const add = (p: string | undefined) => {
    if (p !== undefined) problems.push(p);
  };
  const str = (k: keyof typeof DEFAULTS): string => {
    const v = raw[k];
    return v === undefined ? String(DEFAULTS[k]) : v.trim();
  };

  const location = str("location");
  add(rules.checkLocation(location, key));
  add(rules.checkProviderLocation(raw.providerLocation, location, key));
  const namePrefix = str("namePrefix");
  const namePrefixProblem = rules.checkNamePrefix(namePrefix, key);
  add(namePrefixProblem);
  const computerName = str("computerName") || rules.defaultComputerName(namePrefix);
  // A name derived from a bad prefix is the prefix's problem, reported once.
  if (str("computerName") !== "" || namePrefixProblem === undefined) add(rules.checkComputerName(computerName, key));
  const vmSize = str("vmSize");
  add(rules.checkVmSize(vmSize, key));
  const imageSku = str("imageSku");
  add(rules.checkImageSku(imageSku, key));
  const hotpatch = str("hotpatch");
  add(rules.checkHotpatch(hotpatch, imageSku, key));
  const adminUsername = str("adminUsername");
  add(rules.checkAdminUsername(adminUsername, key));

  const vnetAddressSpace = str("vnetAddressSpace");
  const vnet = rules.checkVnetAddressSpace(vnetAddressSpace, key);
  add(vnet.problem);
  const subnetAddressPrefix = str("subnetAddressPrefix");
  const subnetProblem = rules.checkSubnetAddressPrefix(subnetAddressPrefix, vnet.vnet, vnetAddressSpace, key);
  add(subnetProblem);
  const outboundAccess = str("outboundAccess");
  add(rules.checkOutboundAccess(outboundAccess, key));
  const rdpSourceCidr = str("rdpSourceCidr");
  add(rules.checkRdpSourceCidr(rdpSourceCidr, key));
  const sshSourceCidr = str("sshSourceCidr");
  add(rules.checkSshSourceCidr(sshSourceCidr, key));
  const sshPublicKey = str("sshPublicKey");
  add(rules.checkSshPublicKey(sshPublicKey, key));

  const probeDeadlineSeconds = str("probeDeadlineSeconds");
  add(rules.checkProbeDeadlineSeconds(probeDeadlineSeconds, key));
  const probeRerunToken = str("probeRerunToken");
  add(rules.checkProbeRerunToken(probeRerunToken, key));
  const probeFailureMode = str("probeFailureMode");
  add(rules.checkProbeFailureMode(probeFailureMode, key));

  const failOnOverPrivilege = str("failOnOverPrivilege");
  add(rules.checkBoolean(failOnOverPrivilege, "failOnOverPrivilege", key));

  const tags = rules.checkTags(raw.tags, key);
  problems.push(...tags.problems);
  // The subnet bounds how many VMs fit, once it is itself usable.
  const subnet = subnetProblem === undefined ? parseIpv4Cidr(subnetAddressPrefix) : undefined;
  const setups = checkSetups(raw.setups, key, { subnet });
  problems.push(...setups.problems);
  if (str("computerName") !== "" && setups.problems.length === 0 && !setups.setups.some((x) => x.name === "vm")) {
    add(
      `${key("computerName")}: names the VM of the setup named "vm", and there is none; remove it (each setup's VM is "<namePrefix>-<setup>").`,
    );
  }
  const cloud = rules.checkCloud(raw.cloud);
  add(cloud.problem);

  return {
    problems,
    settings: {
      location,
      namePrefix,
      tags: tags.tags,
      vmSize,
      imageSku,
      hotpatch: hotpatch === "true",
      adminUsername,
      computerName,
      vnetAddressSpace,
      subnetAddressPrefix,
      outboundAccess: outboundAccess as OutboundAccess,
      rdpSourceCidr,
      probeDeadlineSeconds: Number(probeDeadlineSeconds),
      probeRerunToken,
      probeFailureMode: probeFailureMode as ProbeFailureMode,
      cloud: cloud.cloud ?? "public",
      armEndpoint: cloud.armEndpoint ?? "",
      setups: setups.setups,
      failOnOverPrivilege: failOnOverPrivilege === "true",
      sshSourceCidr,
      sshPublicKey,
    },
  };
}

/**
 * Applies defaults and checks every rule; returns settings or throws one
 * ConfigValidationError that lists every problem, each naming its key.
 */
export function validateSettings(raw: RawSettings, context: KeyContext = {}): LabSettings {
  const { problems, settings } = checkSettings(raw, context);
  if (problems.length > 0) throw new ConfigValidationError(problems, context.project);
  return settings;
}
