/**
 * The tutorial's default stack keeps every URN it had before identity setups: a resource whose URN
 * changes is deleted and recreated by `pulumi up` unless an alias names its old URN. Pinned from the
 * program as it was (main at 7201079), and checked the way the SDK itself resolves aliases for an
 * engine resolves aliases (see stackUrns).
 */
import * as pulumi from "@pulumi/pulumi";
import { installMocks, probeInstanceView, valueOf } from "../offline/mockAzure";
import { stdoutWith, successReport } from "../offline/sampleReports";
import { validateSettings, type RawSettings } from "../settings/validate";
import { IdentityLab } from "../components";

const azure = installMocks();
azure.instanceView = (rg: string) => probeInstanceView(stdoutWith(successReport(rg)));

const P = "urn:pulumi:dev::identity-lab::";
/** Every URN of the default stack (index.ts: IdentityLab named after namePrefix "idlab"), as the tutorial deployed it. */
export const TUTORIAL_URNS = [
  `${P}identitylab:lab:IdentityLab::idlab`,
  `${P}identitylab:lab:IdentityLab$azure-native:resources:ResourceGroup::idlab-rg`,
  `${P}identitylab:lab:IdentityLab$identitylab:network:LabNetwork::idlab-net`,
  `${P}identitylab:lab:IdentityLab$identitylab:network:LabNetwork$azure-native:network:NetworkSecurityGroup::idlab-net-nsg`,
  `${P}identitylab:lab:IdentityLab$identitylab:network:LabNetwork$azure-native:network:PublicIPAddress::idlab-net-nat-ip`,
  `${P}identitylab:lab:IdentityLab$identitylab:network:LabNetwork$azure-native:network:NatGateway::idlab-net-nat`,
  `${P}identitylab:lab:IdentityLab$identitylab:network:LabNetwork$azure-native:network:VirtualNetwork::idlab-net-vnet`,
  `${P}identitylab:lab:IdentityLab$identitylab:compute:WindowsVm::idlab`,
  `${P}identitylab:lab:IdentityLab$identitylab:compute:WindowsVm$random:index/randomPassword:RandomPassword::idlab-admin-password`,
  `${P}identitylab:lab:IdentityLab$identitylab:compute:WindowsVm$azure-native:compute:VirtualMachine::idlab-vm`,
  `${P}identitylab:lab:IdentityLab$identitylab:authorization:RoleGrant::idlab-reader`,
  `${P}identitylab:lab:IdentityLab$identitylab:authorization:RoleGrant$azure-native:authorization:RoleAssignment::idlab-reader-assignment`,
  `${P}identitylab:lab:IdentityLab$identitylab:compute:IdentityProbe::idlab-probe`,
  `${P}identitylab:lab:IdentityLab$identitylab:compute:IdentityProbe$azure-native:compute:VirtualMachineExtension::idlab-probe-extension`,
].sort();

interface Seen {
  readonly name: string;
  readonly type: string;
  readonly aliases: readonly pulumi.Input<pulumi.URN | pulumi.Alias>[];
  readonly parent?: pulumi.Resource;
}

/**
 * The stack's resources, each with its URN as the engine forms it (the parent's whole type chain, joined
 * with "$"; the mock monitor keeps only the parent's own type) and the URNs its aliases stand for: its own
 * `{ parent }` or `{ name }` aliases, and one per alias of its parent (the engine's child-alias
 * inheritance, as the SDK's resource.ts inheritedChildAlias also computes it).
 */
async function stackUrns(raw: RawSettings = {}): Promise<Array<{ urn: string; aliases: string[] }>> {
  const seen = new Map<pulumi.Resource, Seen>();
  const record: pulumi.ResourceTransformation = (args) => {
    seen.set(args.resource, { name: args.name, type: args.type, aliases: args.opts.aliases ?? [], parent: args.opts.parent });
    return undefined;
  };
  const settings = validateSettings(raw);
  const lab = new IdentityLab(settings.namePrefix, { settings }, { transformations: [record] });
  seen.set(lab, { name: settings.namePrefix, type: "identitylab:lab:IdentityLab", aliases: [] });
  await valueOf(lab.probeStatus);

  const chain = (r: pulumi.Resource): string => {
    const s = seen.get(r)!;
    return s.parent ? `${chain(s.parent)}$${s.type}` : s.type;
  };
  const urnOf = (r: pulumi.Resource) => `${P}${chain(r)}::${seen.get(r)!.name}`;
  const typeChainOf = (urn: string) => urn.slice(P.length, urn.lastIndexOf("::"));
  const aliasesOf = (r: pulumi.Resource): string[] => {
    const s = seen.get(r)!;
    const own = s.aliases.map((a) => {
      if (typeof a === "string") return a;
      const alias = a as pulumi.Alias & { noParent?: boolean };
      if (alias.stack !== undefined || alias.project !== undefined) throw new Error("an alias to another stack or project");
      // An alias field left out means "as the resource is now" (azure-native's own aliases change only the type).
      const parent = alias.noParent ? undefined : ((alias.parent as pulumi.Resource | undefined) ?? s.parent);
      const type = (alias.type as string | undefined) ?? s.type;
      const name = (alias.name as string | undefined) ?? s.name;
      return parent ? `${P}${chain(parent)}$${type}::${name}` : `${P}${type}::${name}`;
    });
    const inherited = s.parent ? aliasesOf(s.parent).map((pa) => `${P}${typeChainOf(pa)}$${s.type}::${s.name}`) : [];
    return [...own, ...inherited];
  };
  return [...seen.keys()].map((r) => ({ urn: urnOf(r), aliases: aliasesOf(r) }));
}

test("the default stack's URNs are the tutorial's, each held by exactly one resource (its URN or an alias)", async () => {
  const resources = await stackUrns();
  for (const urn of TUTORIAL_URNS) {
    const holders = resources.filter((r) => r.urn === urn || r.aliases.includes(urn));
    expect({ urn, holders: holders.length }).toEqual({ urn, holders: 1 });
  }
  // Anything beyond them is a component that owns no Azure resource of its own.
  const extra = resources.filter((r) => !TUTORIAL_URNS.includes(r.urn) && !r.aliases.some((a) => TUTORIAL_URNS.includes(a)));
  expect(extra.map((r) => r.urn)).toEqual(NEW_COMPONENT_URNS);
});

/** URNs the default stack has that the tutorial did not: components only, never an Azure resource. */
const NEW_COMPONENT_URNS: string[] = [`${P}identitylab:lab:IdentityLab$identitylab:setup:IdentitySetup::idlab`];
