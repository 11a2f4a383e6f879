/**
 * The shape of the lab's settings: what a stack may set, its defaults, and
 * what validation hands to the components.
 */

/** The template's project name; `pulumi new` renames the project, so code asks pulumi.getProject(). */
export const PROJECT = "identity-lab";

export type OutboundAccess = "natGateway" | "defaultOutboundAccess";
export type ProbeFailureMode = "fail" | "report";
export type AzureCloud = "public" | "usgovernment" | "china";
export type SetupOs = "windows" | "linux";
/** Which managed identities a setup's VM has. */
export type IdentityKind = "systemAssigned" | "userAssigned" | "both";
/** The identity one grant is for. */
export type GrantIdentity = "systemAssigned" | "userAssigned";

/** Where a grant applies: the stack's resource group, its subscription, its storage account, or any ARM resource id. */
export type GrantScope =
  | { readonly kind: "resourceGroup" }
  | { readonly kind: "subscription" }
  | { readonly kind: "storageAccount" }
  | { readonly kind: "resource"; readonly id: string };

/** One grant as validated (setups-design §1): the role resolved to its GUID. */
export interface GrantSettings {
  /** The role as written. */
  readonly role: string;
  /** The built-in role's name when the table knows it; "" for a GUID it does not (a custom role). */
  readonly roleName: string;
  readonly roleDefinitionGuid: string;
  readonly scope: GrantScope;
  readonly identity: GrantIdentity;
  /** ABAC condition; "" for none. */
  readonly condition: string;
  /** "2.0" when there is a condition, else "". */
  readonly conditionVersion: string;
  /** api-version of the probe's ARM read of the scope; "" to use probe/grants.ts READ_API_VERSIONS. */
  readonly apiVersion: string;
}

/** One VM, its identities, its grants and its probe. */
export interface SetupSettings {
  /** ^[a-z][a-z0-9]{0,7}$, unique in the stack. */
  readonly name: string;
  readonly os: SetupOs;
  readonly identity: IdentityKind;
  /** An existing user-assigned identity's ARM id; "" to create one when the identity kind needs it. */
  readonly userAssignedIdentityId: string;
  /** "" for the stack's vmSize. */
  readonly vmSize: string;
  readonly grants: readonly GrantSettings[];
}

/** The tutorial: one Windows VM, its system-assigned identity, Reader on the resource group. */
export const DEFAULT_SETUPS: readonly SetupSettings[] = Object.freeze([
  Object.freeze({
    name: "vm",
    os: "windows",
    identity: "systemAssigned",
    userAssignedIdentityId: "",
    vmSize: "",
    grants: Object.freeze([
      Object.freeze({
        role: "Reader",
        roleName: "Reader",
        roleDefinitionGuid: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        scope: Object.freeze({ kind: "resourceGroup" }),
        identity: "systemAssigned",
        condition: "",
        conditionVersion: "",
        apiVersion: "",
      } as const),
    ]),
  } as const),
]);

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
  /** The VMs: the tutorial's single one by default. */
  readonly setups: readonly SetupSettings[];
  /** Over-privilege found by the probe fails `pulumi up` (true) or is a warning and a verdict in the outputs. */
  readonly failOnOverPrivilege: boolean;
  /** Opt-in SSH to Linux setups from one address or a prefix of /24 or narrower; "" for none. */
  readonly sshSourceCidr: string;
  /** The Linux admin's OpenSSH public key; "" to generate one. */
  readonly sshPublicKey: string;
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
  failOnOverPrivilege: false,
  sshSourceCidr: "",
  sshPublicKey: "",
} as const;

export type ProjectKey = keyof typeof DEFAULTS | "tags" | "setups";

/** Every key the lab reads from its project's namespace; any other key there is a mistake. */
export const PROJECT_KEYS: readonly ProjectKey[] = [...(Object.keys(DEFAULTS) as ProjectKey[]), "tags", "setups"];

/** What was given, as text (tags and setups as JSON); absent keys are undefined. */
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
