/**
 * index.ts under the mock runtime, as `pulumi up` hands it config: the project's own
 * namespace (renamed by `pulumi new`), keys that are typos or foreign, and what reaches
 * the user when config is bad (once, before any resource is registered).
 */
import * as pulumi from "@pulumi/pulumi";
import { installMocks, MockAzure, probeInstanceView } from "../offline/mockAzure";
import { stdoutWith, successReport } from "../offline/sampleReports";
import { LAB_TAG_NAMES } from "../settings/azureFacts";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { DEFAULTS } from "../settings/schema";

let azure: MockAzure;

function useProject(project: string) {
  azure = installMocks({ project });
  azure.instanceView = (rgName: string) => probeInstanceView(stdoutWith(successReport(rgName)));
}

/** Runs index.ts in a fresh module registry, as the Pulumi runtime would; returns its error, if any. */
function loadProgram(config: Record<string, string>): { error?: Error; program: Record<string, unknown> } {
  pulumi.runtime.setAllConfig(config);
  let program: Record<string, unknown> = {};
  let error: Error | undefined;
  jest.isolateModules(() => {
    try {
      program = require("../index");
    } catch (e) {
      error = e as Error;
    }
  });
  return { error, program };
}

function configError(config: Record<string, string>): string {
  const { error } = loadProgram(config);
  expect(pulumi.RunError.isInstance(error)).toBe(true);
  expect(azure.registered).toHaveLength(0);
  return error!.message;
}

async function registeredVm() {
  // Registrations are asynchronous; wait for the VM's.
  for (let i = 0; i < 200 && azure.byType("azure-native:compute:VirtualMachine").length === 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  return azure.one("azure-native:compute:VirtualMachine");
}

describe("a project renamed by `pulumi new` (my-lab)", () => {
  beforeEach(() => useProject("my-lab"));

  test("setups under my-lab: take effect", async () => {
    // Both setups in tutorial mode, so the mock VM's tutorial report answers both.
    const setups = JSON.stringify([{ name: "vm" }, { name: "app", vmSize: "Standard_D2s_v5" }]);
    const { error, program } = loadProgram({ "my-lab:setups": setups, "my-lab:failOnOverPrivilege": "true" });
    expect(error).toBeUndefined();
    const summaries = (await (program.setups as any).promise()) as Record<string, { vmName: string; status: string }>;
    expect(Object.keys(summaries)).toEqual(["vm", "app"]);
    expect(Object.values(summaries).map((s) => s.status)).toEqual(["succeeded", "succeeded"]);
    const vms = azure.byType("azure-native:compute:VirtualMachine");
    expect(vms.map((v) => [v.name, v.inputs.hardwareProfile.vmSize])).toEqual([
      ["idlab-vm", "Standard_B2s_v2"],
      ["idlab-app-vm", "Standard_D2s_v5"],
    ]);
    // The lab registers its outputs after they resolve; let that finish before the next test swaps the mocks.
    await new Promise((r) => setTimeout(r, 200));
  });

  test("settings under my-lab: take effect", async () => {
    const { error } = loadProgram({ "my-lab:vmSize": "Standard_D2s_v5", "my-lab:namePrefix": "mine" });
    expect(error).toBeUndefined();
    const vm = await registeredVm();
    expect(vm.inputs.hardwareProfile).toEqual({ vmSize: "Standard_D2s_v5" });
    expect(vm.name).toBe("mine-vm");
  });

  test("a bad setup under my-lab: names its key path through the project's name", () => {
    const message = configError({ "my-lab:setups": JSON.stringify([{ name: "vm", grants: [{ role: "Reeder" }] }]) });
    expect(message).toContain('- my-lab:setups[0].grants[0].role: "Reeder" is not a built-in role; did you mean "Reader"?');
    expect(message).not.toMatch(/identity-lab:/);
  });

  test("a setting left under the template's identity-lab: is refused as foreign, naming the key to use", () => {
    const message = configError({ "identity-lab:vmSize": "Standard_D2s_v5" });
    expect(message).toMatch(/^my-lab: 1 configuration problem; nothing was deployed/);
    expect(message).toContain(
      'identity-lab:vmSize: this project is named "my-lab", so the lab reads its settings from my-lab:<key> and ignores the namespace "identity-lab".',
    );
    expect(message).toContain("pulumi config set my-lab:vmSize <value>");
  });

  test("every message names keys by the project's name", () => {
    const message = configError({ "my-lab:vmSize": "x", "my-lab:rdpSourceCidr": "0.0.0.0/1" });
    expect(message).toMatch(/- my-lab:vmSize: "x" is not a VM size/);
    expect(message).toMatch(/- my-lab:rdpSourceCidr: "0.0.0.0\/1" opens RDP to 2,147,483,648 addresses/);
    expect(message).not.toMatch(/identity-lab:/);
  });
});

/**
 * What `pulumi new <repo> --yes` writes to the new stack's config from Pulumi.yaml's `template:` section
 * (pulumi/pulumi pkg/cmd/pulumi/project/newcmd/config.go resolveTemplateConfig): un-namespaced keys get the new
 * project's name, namespaced ones stay, and each value is the template's default; empty answers are not saved.
 */
function configFromTemplate(project: string, answers: Record<string, string> = {}): Record<string, string> {
  const template = parseYaml(readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")).template;
  const config: Record<string, string> = {};
  for (const [key, decl] of Object.entries(template.config as Record<string, { default?: string }>)) {
    const value = answers[key] ?? String(decl.default ?? "");
    if (value !== "") config[key.includes(":") ? key : `${project}:${key}`] = value;
  }
  return config;
}

describe("the template: section, as `pulumi new` applies it", () => {
  const template = parseYaml(readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")).template;

  test("offers only keys the lab reads, with the lab's own defaults, and keeps the CLI floor at 3.45.0", () => {
    const project = parseYaml(readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8"));
    expect(project.requiredPulumiVersion).toBe(">=3.45.0");
    // displayName and metadata (3.95.0) would make 3.45-3.94 refuse the whole file (template: additionalProperties false).
    expect(Object.keys(template).sort()).toEqual(["config", "description", "quickstart"]);
    for (const [key, decl] of Object.entries(template.config as Record<string, { default: string; secret?: boolean }>)) {
      if (key === "azure-native:location") continue;
      expect(Object.keys(DEFAULTS)).toContain(key);
      expect(decl.default).toBe(String(DEFAULTS[key as keyof typeof DEFAULTS]));
      // Nothing the user types is a secret: the password and SSH key are generated (and `-c` would store one in plain text).
      expect(decl.secret).toBeUndefined();
    }
  });

  test("`pulumi new my-lab --yes`: the template's answers deploy under the new name", async () => {
    useProject("my-lab");
    const config = configFromTemplate("my-lab", { namePrefix: "mylab", location: "westeurope", "azure-native:location": "westeurope" });
    expect(config).toEqual({ "azure-native:location": "westeurope", "my-lab:location": "westeurope", "my-lab:namePrefix": "mylab" });
    const { error } = loadProgram(config);
    expect(error).toBeUndefined();
    const vm = await registeredVm();
    expect(vm.name).toBe("mylab-vm");
    expect(vm.inputs.location).toBe("westeurope");
  });

  test("negative control: the same answers under the template's old namespace are refused, not ignored", () => {
    useProject("my-lab");
    const message = configError(configFromTemplate("identity-lab", { namePrefix: "mylab" }));
    expect(message).toContain('identity-lab:namePrefix: this project is named "my-lab"');
  });
});

describe("the template's own project (identity-lab)", () => {
  beforeEach(() => useProject("identity-lab"));

  test("typos of keys and of the namespace are refused, with the nearest key", () => {
    const message = configError({
      "identity-lab:vmsize": "Standard_D2s_v5",
      "identity-lab:rdpSourceCIDR": "203.0.113.7",
      "identitylab:vmSize": "Standard_D2s_v5",
    });
    expect(message).toMatch(/3 configuration problems/);
    expect(message).toContain("- identity-lab:vmsize: is not a setting of this lab; did you mean identity-lab:vmSize?");
    expect(message).toContain("- identity-lab:rdpSourceCIDR: is not a setting of this lab; did you mean identity-lab:rdpSourceCidr?");
    expect(message).toContain('- identitylab:vmSize: this project is named "identity-lab"');
  });

  test("azure-native:location without the lab's location is explained, naming both keys", () => {
    const message = configError({ "azure-native:location": "westeurope" });
    expect(message).toContain('- azure-native:location: "westeurope" differs from identity-lab:location "eastus2"');
    expect(message).toContain("pulumi config set location westeurope");
  });

  test("azure-native:location equal to the lab's is fine (Pulumi.dev.yaml sets both)", async () => {
    const { error } = loadProgram({ "azure-native:location": "westeurope", "identity-lab:location": "westeurope" });
    expect(error).toBeUndefined();
    expect((await registeredVm()).inputs.location).toBe("westeurope");
  });

  test("a tag that --path stored as a number is refused with the way out", () => {
    const message = configError({ "identity-lab:tags": '{"cost":42,"owner":"alice"}' });
    expect(message).toContain("- identity-lab:tags.cost: must be a string (got number).");
    expect(message).toContain(`pulumi config set --path --type string 'tags.cost' "42"`);
  });

  test("a secret's value is never echoed in a problem", () => {
    pulumi.runtime.setAllConfig({ "identity-lab:adminUsername": "Administrator", "identity-lab:tags": '{"k":"tok\\u0007en"}' }, [
      "identity-lab:adminUsername",
      "identity-lab:tags",
    ]);
    let error: Error | undefined;
    jest.isolateModules(() => {
      try {
        require("../index");
      } catch (e) {
        error = e as Error;
      }
    });
    expect(error!.message).toContain("- identity-lab:adminUsername: [secret] is a name Azure reserves");
    expect(error!.message).toContain("- identity-lab:tags.k: value [secret] holds control characters.");
    expect(error!.message).not.toMatch(/Administrator|tok/);
    expect(azure.registered).toHaveLength(0);
  });

  test("the lab's own tags are exactly LAB_TAG_NAMES, which user tags may not reuse", async () => {
    const { error } = loadProgram({ "identity-lab:tags": '{"owner":"alice"}' });
    expect(error).toBeUndefined();
    await registeredVm();
    const rgTags = Object.keys(azure.one("azure-native:resources:ResourceGroup").inputs.tags);
    expect(rgTags.filter((t) => t !== "owner").sort()).toEqual([...LAB_TAG_NAMES].sort());
  });
});

describe("what reaches the user when config is bad", () => {
  beforeEach(() => useProject("identity-lab"));

  test("each problem once, in the one error thrown; nothing logged besides", async () => {
    const logged: string[] = [];
    pulumi.runtime.setAllConfig({ "identity-lab:vmSize": "x", "identity-lab:namePrefix": "idlab\u200b", "identity-lab:vmsize": "y" });
    let thrown: unknown;
    jest.isolateModules(() => {
      // The program's own copy of the SDK, whose log it would write to.
      const sdk = require("@pulumi/pulumi") as typeof pulumi;
      const record = async (...args: unknown[]) => void logged.push(String(args[0]));
      jest.spyOn(sdk.log, "info").mockImplementation(record);
      jest.spyOn(sdk.log, "warn").mockImplementation(record);
      jest.spyOn(sdk.log, "error").mockImplementation(record);
      try {
        require("../index");
      } catch (e) {
        thrown = e;
      }
    });
    await new Promise((r) => setTimeout(r, 50));

    expect(pulumi.RunError.isInstance(thrown)).toBe(true);
    const message = (thrown as Error).message;
    const problems = message.split("\n").filter((l) => l.startsWith("  - "));
    expect(problems).toHaveLength(3);
    for (const p of problems) expect(message.split(p).length - 1).toBe(1);
    expect(message).toContain('- identity-lab:namePrefix: "idlab\\u200b" must be');
    expect(logged).toEqual([]);
    expect(azure.registered).toHaveLength(0);
  });
});
