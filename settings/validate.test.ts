import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { checkConfigKeys } from "./keys";
import { ConfigValidationError, DEFAULTS, RawSettings, validateSettings } from "./validate";

function problemsOf(raw: RawSettings): readonly string[] {
  try {
    validateSettings(raw);
  } catch (e) {
    if (e instanceof ConfigValidationError) return e.problems;
    throw e;
  }
  return [];
}

describe("validateSettings", () => {
  test("defaults alone are valid and secure", () => {
    const s = validateSettings({});
    expect(s).toMatchObject({
      location: "eastus2",
      vmSize: "Standard_B2s_v2",
      rdpSourceCidr: "",
      outboundAccess: "natGateway",
      computerName: "idlab-vm",
      probeDeadlineSeconds: 900,
      probeFailureMode: "fail",
      cloud: "public",
      hotpatch: true,
    });
  });

  test("Pulumi.yaml declares exactly the defaults that the code applies", () => {
    const project = parse(readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8"));
    const declared = Object.fromEntries(
      Object.entries(project.config as Record<string, { default: unknown }>).map(([k, v]) => [k, v.default]),
    );
    expect(declared).toEqual(DEFAULTS);
  });

  test("Pulumi.dev.yaml, the worked example, is valid", () => {
    const stack = parse(readFileSync(path.join(__dirname, "..", "Pulumi.dev.yaml"), "utf8")).config as Record<string, unknown>;
    const raw: RawSettings = { providerLocation: stack["azure-native:location"] as string };
    for (const [k, v] of Object.entries(stack)) {
      if (!k.startsWith("identity-lab:")) continue;
      const name = k.slice("identity-lab:".length) as keyof RawSettings;
      raw[name] = typeof v === "object" ? JSON.stringify(v) : String(v);
    }
    expect(checkConfigKeys(Object.keys(stack))).toEqual([]);
    expect(() => validateSettings(raw)).not.toThrow();
    expect(validateSettings(raw).tags).toEqual({ owner: "platform-team", purpose: "managed-identity-lab" });
  });

  test("good values of every kind are accepted", () => {
    const s = validateSettings({
      location: "westeurope",
      namePrefix: "lab-01",
      computerName: "WIN-PROBE-01",
      adminUsername: "azure.ops",
      vnetAddressSpace: "172.20.0.0/22",
      subnetAddressPrefix: "172.20.3.0/29",
      rdpSourceCidr: "203.0.113.7",
      tags: JSON.stringify({ owner: "alice", "cost-center": "1234" }),
      probeDeadlineSeconds: "60",
      outboundAccess: "defaultOutboundAccess",
      probeFailureMode: "report",
      hotpatch: "false",
      imageSku: "2022-datacenter-azure-edition",
      cloud: "usgovernment",
    });
    expect(s.rdpSourceCidr).toBe("203.0.113.7");
    expect(s.tags).toEqual({ owner: "alice", "cost-center": "1234" });
    expect(s.hotpatch).toBe(false);
    expect(s.cloud).toBe("usgovernment");
  });

  // Each bad input must produce a problem naming its key and saying the rule.
  const bad: Array<[string, RawSettings, string, RegExp]> = [
    ["location with spaces", { location: "West Europe" }, "identity-lab:location", /lowercase/],
    ["location empty", { location: "" }, "identity-lab:location", /region/],
    ["namePrefix uppercase", { namePrefix: "IDLAB" }, "identity-lab:namePrefix", /lowercase/],
    ["namePrefix too long", { namePrefix: "abcdefghijklm" }, "identity-lab:namePrefix", /1-12/],
    ["namePrefix trailing hyphen", { namePrefix: "lab-" }, "identity-lab:namePrefix", /hyphen/],
    ["computerName 16 chars", { computerName: "ABCDEFGHIJKLMNOP" }, "identity-lab:computerName", /at most 15/],
    ["computerName underscore", { computerName: "win_vm" }, "identity-lab:computerName", /letters, digits/],
    ["computerName dot", { computerName: "win.vm" }, "identity-lab:computerName", /letters, digits/],
    ["computerName numeric", { computerName: "12345" }, "identity-lab:computerName", /numeric/],
    ["vmSize without Standard_", { vmSize: "B2s_v2" }, "identity-lab:vmSize", /Standard_B2s_v2/],
    ["vmSize with space", { vmSize: "Standard B2s" }, "identity-lab:vmSize", /VM size/],
    ["imageSku Gen1 datacenter", { imageSku: "2019-Datacenter" }, "identity-lab:imageSku", /Azure Edition/],
    ["hotpatch not boolean", { hotpatch: "yes" }, "identity-lab:hotpatch", /true or false/],
    [
      "hotpatch on a non-hotpatchable image",
      { imageSku: "2022-datacenter-azure-edition" },
      "identity-lab:hotpatch",
      /cannot be hotpatched/,
    ],
    ["adminUsername reserved", { adminUsername: "Administrator" }, "identity-lab:adminUsername", /reserves/],
    ["adminUsername reserved admin", { adminUsername: "admin" }, "identity-lab:adminUsername", /reserves/],
    ["adminUsername too long", { adminUsername: "a".repeat(21) }, "identity-lab:adminUsername", /1-20/],
    ["adminUsername forbidden char", { adminUsername: "lab@admin" }, "identity-lab:adminUsername", /may not contain/],
    ["adminUsername trailing period", { adminUsername: "labadmin." }, "identity-lab:adminUsername", /period/],
    ["vnet not a CIDR", { vnetAddressSpace: "10.42.0.0" }, "identity-lab:vnetAddressSpace", /IPv4 CIDR/],
    ["vnet bad octet", { vnetAddressSpace: "10.420.0.0/16" }, "identity-lab:vnetAddressSpace", /IPv4 CIDR/],
    ["vnet host bits", { vnetAddressSpace: "10.42.0.1/16" }, "identity-lab:vnetAddressSpace", /host bits/],
    ["vnet /30", { vnetAddressSpace: "10.42.0.0/30" }, "identity-lab:vnetAddressSpace", /\/8 to \/29/],
    ["subnet outside vnet", { subnetAddressPrefix: "10.43.1.0/24" }, "identity-lab:subnetAddressPrefix", /inside/],
    ["subnet larger than vnet", { subnetAddressPrefix: "10.0.0.0/8" }, "identity-lab:subnetAddressPrefix", /inside/],
    ["subnet /30", { subnetAddressPrefix: "10.42.1.0/30" }, "identity-lab:subnetAddressPrefix", /\/29/],
    ["subnet garbage", { subnetAddressPrefix: "subnet-a" }, "identity-lab:subnetAddressPrefix", /IPv4 CIDR/],
    ["outboundAccess unknown", { outboundAccess: "none" }, "identity-lab:outboundAccess", /natGateway/],
    ["rdp 0.0.0.0/0", { rdpSourceCidr: "0.0.0.0/0" }, "identity-lab:rdpSourceCidr", /whole Internet/],
    ["rdp *", { rdpSourceCidr: "*" }, "identity-lab:rdpSourceCidr", /whole Internet/],
    ["rdp Internet", { rdpSourceCidr: "Internet" }, "identity-lab:rdpSourceCidr", /whole Internet/],
    ["rdp any /0", { rdpSourceCidr: "10.0.0.0/0" }, "identity-lab:rdpSourceCidr", /whole Internet/],
    ["rdp malformed", { rdpSourceCidr: "my-laptop" }, "identity-lab:rdpSourceCidr", /IPv4 address/],
    ["rdp host bits", { rdpSourceCidr: "203.0.113.7/24" }, "identity-lab:rdpSourceCidr", /host bits/],
    ["deadline too short", { probeDeadlineSeconds: "59" }, "identity-lab:probeDeadlineSeconds", /60/],
    ["deadline too long", { probeDeadlineSeconds: "5401" }, "identity-lab:probeDeadlineSeconds", /5400/],
    ["deadline fractional", { probeDeadlineSeconds: "90.5" }, "identity-lab:probeDeadlineSeconds", /whole number/],
    ["deadline text", { probeDeadlineSeconds: "ten minutes" }, "identity-lab:probeDeadlineSeconds", /whole number/],
    ["rerun token with space", { probeRerunToken: "run 2" }, "identity-lab:probeRerunToken", /64 letters/],
    ["failure mode unknown", { probeFailureMode: "ignore" }, "identity-lab:probeFailureMode", /"fail"/],
    ["tags not JSON", { tags: "owner=alice" }, "identity-lab:tags", /map of names/],
    ["tags a list", { tags: '["a","b"]' }, "identity-lab:tags", /not a list/],
    ["tag value not string", { tags: '{"n":1}' }, "identity-lab:tags.n", /string/],
    ["tag name with slash", { tags: '{"a/b":"x"}' }, "identity-lab:tags", /without/],
    ["tag value too long", { tags: JSON.stringify({ v: "x".repeat(257) }) }, "identity-lab:tags.v", /256/],
    [
      "too many tags",
      { tags: JSON.stringify(Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`t${i}`, "x"]))) },
      "identity-lab:tags",
      /45/,
    ],
    ["unknown cloud", { cloud: "germany" }, "azure-native:environment", /public/],
  ];

  test.each(bad)("%s", (_label, raw, keyName, rule) => {
    const problems = problemsOf(raw);
    expect(problems).toHaveLength(1);
    expect(problems[0].startsWith(`${keyName}:`)).toBe(true);
    expect(problems[0]).toMatch(rule);
  });

  test("every problem is reported at once, in one error", () => {
    let error: unknown;
    try {
      validateSettings({ location: "West Europe", rdpSourceCidr: "0.0.0.0/0", adminUsername: "admin", probeDeadlineSeconds: "5" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    const { problems, message } = error as ConfigValidationError;
    expect(problems.map((p) => p.split(":").slice(0, 2).join(":"))).toEqual([
      "identity-lab:location",
      "identity-lab:adminUsername",
      "identity-lab:rdpSourceCidr",
      "identity-lab:probeDeadlineSeconds",
    ]);
    expect(message).toMatch(/4 configuration problems; nothing was deployed/);
  });
});

describe("validateSettings: composition", () => {
  test("the cloud is resolved once: settings carry its ARM endpoint", () => {
    expect(validateSettings({}).armEndpoint).toBe("https://management.azure.com/");
    expect(validateSettings({ cloud: "China" })).toMatchObject({ cloud: "china", armEndpoint: "https://management.chinacloudapi.cn/" });
    expect(validateSettings({ cloud: "usgovernment" }).armEndpoint).toBe("https://management.usgovcloudapi.net/");
  });

  test("messages name keys by the project's name, not the template's", () => {
    let error: unknown;
    try {
      validateSettings({ vmSize: "x", probeDeadlineSeconds: "5101" }, { project: "my-lab" });
    } catch (e) {
      error = e;
    }
    const { problems, message } = error as ConfigValidationError;
    expect(problems.map((p) => p.split(": ")[0])).toEqual(["my-lab:vmSize", "my-lab:probeDeadlineSeconds"]);
    expect(message).toMatch(/^my-lab: 2 configuration problems; nothing was deployed/);
    expect(message).not.toMatch(/identity-lab/);
  });

  test("an invisible character in a value is shown escaped", () => {
    expect(problemsOf({ namePrefix: "idlab\u200b" })).toEqual([
      'identity-lab:namePrefix: "idlab\\u200b" must be 1-12 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen.',
    ]);
  });

  test("azure-native:location must agree with the lab's location", () => {
    expect(problemsOf({ providerLocation: "westeurope" })).toEqual([
      expect.stringMatching(/^azure-native:location: .*identity-lab:location "eastus2"/),
    ]);
    expect(problemsOf({ providerLocation: "westeurope", location: "westeurope" })).toEqual([]);
  });

  test.each<[string, RawSettings, string, RegExp]>([
    ["rdp 0.0.0.0/1", { rdpSourceCidr: "0.0.0.0/1" }, "identity-lab:rdpSourceCidr", /no wider than \/24/],
    ["vnet on link-local", { vnetAddressSpace: "169.254.0.0/16" }, "identity-lab:vnetAddressSpace", /169\.254\.169\.254/],
    ["vmSize Gen1 only", { vmSize: "Standard_D2_v3" }, "identity-lab:vmSize", /Trusted Launch/],
    ["tag duplicate in case", { tags: '{"Owner":"a","owner":"b"}' }, "identity-lab:tags", /differ only in case/],
    ["tag the lab's own", { tags: '{"Stack":"prod"}' }, "identity-lab:tags", /the lab sets itself/],
    ["deadline 5101", { probeDeadlineSeconds: "5101" }, "identity-lab:probeDeadlineSeconds", /5100/],
  ])("new rule: %s", (_label, raw, keyName, rule) => {
    const problems = problemsOf(raw);
    expect(problems).toHaveLength(1);
    expect(problems[0].startsWith(`${keyName}:`)).toBe(true);
    expect(problems[0]).toMatch(rule);
  });

  test("the largest deadline allowed, 5100, passes", () => {
    expect(validateSettings({ probeDeadlineSeconds: "5100" }).probeDeadlineSeconds).toBe(5100);
  });
});
