/**
 * Each rule alone, without Pulumi: the CIDR arithmetic, the escaping of shown values,
 * and the rules added for issues 7.4, 8.2, 8.8 (the table, the ranges, the tag limits).
 */
import {
  LAB_TAG_NAMES,
  MAX_PROBE_DEADLINE_SECONDS,
  MAX_USER_TAGS,
  SUGGESTED_SERIES,
  TRUSTED_LAUNCH_SERIES,
  VNET_RESERVED_RANGES,
} from "./azureFacts";
import { contains, formatIpv4Cidr, overlaps, parseIpv4Cidr } from "./cidr";
import * as rules from "./rules";
import { DEFAULTS } from "./schema";
import { closest, show } from "./text";

const cidr = (t: string) => parseIpv4Cidr(t)!;

describe("cidr", () => {
  test("parses, formats and compares blocks", () => {
    expect(formatIpv4Cidr(cidr("10.42.1.0/24"))).toBe("10.42.1.0/24");
    expect(formatIpv4Cidr(cidr("203.0.113.7"))).toBe("203.0.113.7/32");
    expect(parseIpv4Cidr("010.0.0.0/8")).toBeUndefined();
    expect(parseIpv4Cidr("10.0.0.0/33")).toBeUndefined();
    expect(contains(cidr("10.42.0.0/16"), cidr("10.42.1.0/24"))).toBe(true);
    expect(contains(cidr("10.42.1.0/24"), cidr("10.42.0.0/16"))).toBe(false);
  });

  test.each([
    ["168.63.0.0/16", "168.63.129.16/32", true],
    ["168.63.129.16/32", "168.63.0.0/16", true],
    ["168.63.128.0/24", "168.63.129.16/32", false],
    ["169.254.169.0/24", "169.254.0.0/16", true],
    ["128.0.0.0/1", "224.0.0.0/4", true],
    ["10.0.0.0/8", "127.0.0.0/8", false],
    ["255.255.255.248/29", "255.255.255.255/32", true],
  ])("overlaps(%s, %s) is %s", (a, b, expected) => {
    expect(overlaps(cidr(a), cidr(b))).toBe(expected);
  });
});

describe("show", () => {
  test("invisible, look-alike and control characters print as \\u escapes", () => {
    expect(show("idlab\u200b")).toBe('"idlab\\u200b"');
    expect(show("east\u202eus")).toBe('"east\\u202eus"');
    expect(show("\u0430dmin")).toBe('"\\u0430dmin"'); // Cyrillic a
    expect(show("a\tb\n")).toBe('"a\\u0009b\\u000a"');
    expect(show('say "hi" \\')).toBe('"say \\"hi\\" \\\\"');
    expect(show("\u{1F600}")).toBe('"\\ud83d\\ude00"');
    expect(show("eastus2")).toBe('"eastus2"');
  });

  test("closest suggests near keys only", () => {
    const keys = ["vmSize", "rdpSourceCidr", "location"];
    expect(closest("vmsize", keys)).toBe("vmSize");
    expect(closest("rdpSourceCIDR", keys)).toBe("rdpSourceCidr");
    expect(closest("locaton", keys)).toBe("location");
    expect(closest("colour", keys)).toBeUndefined();
  });
});

describe("vmSize: the Trusted Launch table", () => {
  test("the default and one example of every series in the table pass", () => {
    expect(rules.checkVmSize(DEFAULTS.vmSize)).toBeUndefined();
    for (const s of TRUSTED_LAUNCH_SERIES) expect([s.example, rules.checkVmSize(s.example)]).toEqual([s.example, undefined]);
    for (const [family, s] of Object.entries(SUGGESTED_SERIES))
      for (const n of s.vcpus) expect([family, rules.checkVmSize(s.size(n))]).toEqual([family, undefined]);
  });

  test.each([
    "Standard_B2ts_v2",
    "Standard_B4als_v2",
    "Standard_D4ds_v5",
    "Standard_D2as_v4",
    "Standard_E4-2s_v5",
    "Standard_DS11-1_v2",
    "Standard_B1ms",
  ])("%s is in the table", (size) => expect(rules.checkVmSize(size)).toBeUndefined());

  test.each([
    // Gen1-only series (Trusted Launch doc: "Not supported size families")
    ["Standard_D2_v3", "Standard_D2s_v5"],
    ["Standard_D4_v2", "Standard_D4s_v5"],
    ["Standard_A2_v2", "Standard_B2s_v2"],
    ["Standard_E8_v3", "Standard_E8s_v5"],
    // Arm64: the image is x64
    ["Standard_D2ps_v5", "Standard_D2s_v5"],
    ["Standard_B2pts_v2", "Standard_B2s_v2"],
    // Confidential
    ["Standard_DC2s_v3", "Standard_D2s_v5"],
    // A vCPU count the suggested series lacks: its smallest size instead
    ["Standard_D3_v3", "Standard_D2s_v5"],
    // Shape mistakes: case and prefix
    ["standard_b2s_v2", "Standard_B2s_v2"],
    ["B2s_v2", "Standard_B2s_v2"],
    ["Standard B2s", "Standard_B2s_v2"],
    ["", "Standard_B2s_v2"],
  ])("%s is refused with the rule, suggesting %s", (size, suggestion) => {
    const problem = rules.checkVmSize(size);
    expect(problem).toMatch(/^identity-lab:vmSize: /);
    expect(problem).toMatch(/Gen2 with Trusted Launch on an x64 image/);
    expect(problem).toMatch(/Trusted Launch for Azure virtual machines/);
    expect(problem).toContain(`Try "${suggestion}".`);
  });
});

describe("VNet and subnet: Azure's reserved ranges", () => {
  test.each(VNET_RESERVED_RANGES.map((r) => [r.cidr, r.why]))("a VNet overlapping %s is refused, saying why", (range, why) => {
    const block = cidr(range);
    // The block that holds the range, within the /8-/29 a VNet may have.
    const vnet = formatIpv4Cidr({
      base: block.base - (block.base % 2 ** (32 - Math.max(8, Math.min(block.prefix, 29)))),
      prefix: Math.max(8, Math.min(block.prefix, 29)),
    });
    const { problem } = rules.checkVnetAddressSpace(vnet);
    expect(problem).toMatch(/^identity-lab:vnetAddressSpace: /);
    expect(problem).toContain(`overlaps ${range} (${why})`);
    expect(problem).toMatch(/VNet FAQ/);
  });

  test("169.254.0.0/16 is refused because it would also shadow IMDS", () => {
    expect(rules.checkVnetAddressSpace("169.254.0.0/16").problem).toMatch(/169\.254\.169\.254/);
  });

  test.each(["168.63.0.0/16", "168.0.0.0/8", "224.0.0.0/8", "127.0.0.0/16", "255.255.255.248/29", "169.254.169.248/29"])(
    "VNet %s overlaps a reserved range",
    (vnet) => expect(rules.checkVnetAddressSpace(vnet).problem).toMatch(/overlaps/),
  );

  test.each(["10.42.0.0/16", "172.16.0.0/12", "192.168.0.0/24", "100.64.0.0/10", "168.63.128.0/24"])("VNet %s is fine", (vnet) => {
    expect(rules.checkVnetAddressSpace(vnet)).toEqual({ vnet: cidr(vnet) });
  });

  test("a subnet overlapping a reserved range is refused on its own key", () => {
    expect(rules.checkSubnetAddressPrefix("169.254.1.0/24", undefined, "x")).toMatch(
      /^identity-lab:subnetAddressPrefix: "169\.254\.1\.0\/24" overlaps 169\.254\.0\.0\/16/,
    );
    expect(rules.checkSubnetAddressPrefix("10.42.1.0/24", cidr("10.42.0.0/16"), "10.42.0.0/16")).toBeUndefined();
  });
});

describe("rdpSourceCidr: one address or a narrow prefix", () => {
  test.each(["203.0.113.7", "203.0.113.7/32", "203.0.113.0/24", "198.51.100.128/25", "10.1.2.0/24"])("%s is accepted", (v) =>
    expect(rules.checkRdpSourceCidr(v)).toBeUndefined(),
  );

  test.each(["0.0.0.0/1", "128.0.0.0/1", "0.0.0.0/8", "10.0.0.0/8", "100.0.0.0/6", "203.0.112.0/23", "192.168.0.0/16"])(
    "%s is too wide, and the message states the /24 rule",
    (v) => {
      const problem = rules.checkRdpSourceCidr(v);
      expect(problem).toMatch(/^identity-lab:rdpSourceCidr: /);
      expect(problem).toMatch(/no wider than \/24/);
    },
  );

  test.each(["0.0.0.0/0", "10.0.0.0/0", "*", "Any"])("%s is the whole Internet", (v) =>
    expect(rules.checkRdpSourceCidr(v)).toMatch(/whole Internet/),
  );

  test.each(["127.0.0.1", "224.0.0.1", "255.255.255.255", "0.0.0.0"])("%s is no client's address", (v) =>
    expect(rules.checkRdpSourceCidr(v)).toMatch(/no RDP client connects from there/),
  );
});

describe("tags", () => {
  const problemsOf = (tags: Record<string, unknown>) => rules.checkTags(JSON.stringify(tags)).problems;

  test("Azure's limits, case-insensitively unique names, apart from the lab's own", () => {
    expect(problemsOf({ owner: "a", Owner: "b" })).toEqual([
      'identity-lab:tags: tag names "owner" and "Owner" differ only in case; Azure treats tag names case-insensitively, so keep one.',
    ]);
    for (const lab of LAB_TAG_NAMES) {
      expect(problemsOf({ [lab]: "x" })[0]).toMatch(/one the lab sets itself/);
      expect(problemsOf({ [lab.toUpperCase()]: "x" })[0]).toMatch(/one the lab sets itself/);
    }
    for (const c of ["<", ">", "%", "&", "\\", "?", "/"]) expect(problemsOf({ [`a${c}b`]: "x" })[0]).toMatch(/without < > % & \\ \? \//);
    expect(problemsOf({ ["n".repeat(512)]: "x" })).toEqual([]);
    expect(problemsOf({ ["n".repeat(513)]: "x" })[0]).toMatch(/1-512 characters/);
    expect(problemsOf({ v: "x".repeat(256) })).toEqual([]);
    expect(problemsOf({ v: "x".repeat(257) })[0]).toMatch(/256/);
    expect(problemsOf({ "": "x" })[0]).toMatch(/1-512/);
  });

  test("at most 45: the lab's 3 and 2 for policy keep a resource within Azure's 50", () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, "x"]));
    expect(MAX_USER_TAGS + LAB_TAG_NAMES.length).toBeLessThanOrEqual(50);
    expect(problemsOf(many(MAX_USER_TAGS))).toEqual([]);
    expect(problemsOf(many(MAX_USER_TAGS + 1))[0]).toMatch(/46 tags; keep to 45: Azure allows 50 per resource, the lab adds its own 3/);
  });

  test("a tag name with invisible characters is refused and shown escaped", () => {
    expect(problemsOf({ "owner\u200b": "x" })[0]).toBe(
      'identity-lab:tags: tag name "owner\\u200b" holds invisible characters (shown as \\u escapes); it would print like another tag.',
    );
  });

  test("a number or boolean stored by --path is refused with the way out", () => {
    const [problem] = problemsOf({ cost: 42 });
    expect(problem).toMatch(/^identity-lab:tags\.cost: must be a string \(got number\)\./);
    expect(problem).toContain(`pulumi config set --path --type string 'tags.cost' "42"`);
    expect(problemsOf({ billable: true })[0]).toContain(`pulumi config set --path --type string 'tags.billable' "true"`);
  });
});

describe("probeDeadlineSeconds: 60-5100, 5 minutes under the extension's 90", () => {
  test("the bounds", () => {
    expect(MAX_PROBE_DEADLINE_SECONDS).toBe(5100);
    expect(rules.checkProbeDeadlineSeconds("60")).toBeUndefined();
    expect(rules.checkProbeDeadlineSeconds("5100")).toBeUndefined();
    expect(rules.checkProbeDeadlineSeconds("5101")).toMatch(
      /from 60 .* to 5100, which leaves 5 minutes under the Custom Script Extension's 90-minute/,
    );
    expect(rules.checkProbeDeadlineSeconds("5400")).toMatch(/5100/);
  });
});

describe("location: the provider's region against the lab's", () => {
  test("azure-native:location that differs names both keys", () => {
    expect(rules.checkProviderLocation("westeurope", "eastus2")).toBe(
      'azure-native:location: "westeurope" differs from identity-lab:location "eastus2"; the lab puts every resource at ' +
        "identity-lab:location (its default is eastus2 when unset), so set it to the same region (pulumi config set location westeurope) " +
        "or remove azure-native:location.",
    );
    expect(rules.checkProviderLocation("West Europe", "westeurope")).toBeUndefined();
    expect(rules.checkProviderLocation(undefined, "westeurope")).toBeUndefined();
  });
});
