/**
 * The shape of the lab's settings: what a stack may set, its defaults, and
 * what validation hands to the components.
 */

/** The template's project name; `pulumi new` renames the project, so code asks pulumi.getProject(). */
export const PROJECT = "identity-lab";

export type OutboundAccess = "natGateway" | "defaultOutboundAccess";
export type ProbeFailureMode = "fail" | "report";
export type AzureCloud = "public" | "usgovernment" | "china";

export interface LabSettings {
  readonly location: string;
  readonly namePrefix: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly vmSize: string;
  readonly imageSku: string;
  readonly hotpatch: boolean;
  readonly adminUsername: string;
  readonly computerName: string;
  readonly vnetAddressSpace: string;
  readonly subnetAddressPrefix: string;
  readonly outboundAccess: OutboundAccess;
  /** Empty: no public IP and no inbound rule at all. */
  readonly rdpSourceCidr: string;
  readonly probeDeadlineSeconds: number;
  readonly probeRerunToken: string;
  readonly probeFailureMode: ProbeFailureMode;
  /** The provider's cloud, for display; components use armEndpoint. */
  readonly cloud: AzureCloud;
  /** ARM of that cloud, trailing slash included: where the probe reads and its token's audience. */
  readonly armEndpoint: string;
}

/**
 * Defaults for every project key. Pulumi.yaml declares the same values for the
 * CLI; a test keeps the two equal, because the mock runtime never applies
 * Pulumi.yaml and a silent mismatch would make tests and `pulumi up` disagree.
 */
export const DEFAULTS = {
  location: "eastus2",
  namePrefix: "idlab",
  vmSize: "Standard_B2s_v2",
  imageSku: "2025-datacenter-azure-edition",
  hotpatch: true,
  adminUsername: "labadmin",
  computerName: "",
  vnetAddressSpace: "10.42.0.0/16",
  subnetAddressPrefix: "10.42.1.0/24",
  outboundAccess: "natGateway",
  rdpSourceCidr: "",
  probeDeadlineSeconds: 900,
  probeRerunToken: "",
  probeFailureMode: "fail",
} as const;

export type ProjectKey = keyof typeof DEFAULTS | "tags";

/** Every key the lab reads from its project's namespace; any other key there is a mistake. */
export const PROJECT_KEYS: readonly ProjectKey[] = [...(Object.keys(DEFAULTS) as ProjectKey[]), "tags"];

/** What was given, as text (tags as JSON); absent keys are undefined. */
export type RawSettings = Partial<Record<ProjectKey, string>> & {
  /** azure-native:environment (or ARM_ENVIRONMENT). */
  cloud?: string;
  /** azure-native:location, the provider's default region. */
  providerLocation?: string;
};

/** How keys are named in messages: `<project>:<key>`. */
export interface KeyContext {
  /** The project's name (pulumi.getProject()); default: the template's. */
  readonly project?: string;
}
