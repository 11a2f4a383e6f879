import { portsCovered, ruleProblems, sourceTooWide } from "./netRules";

const rdp = { name: "r", direction: "Inbound", access: "Allow", protocol: "Tcp", destinationPortRange: "3389" };

describe("portsCovered", () => {
  test.each([
    ["3389", [3389]],
    ["22", [22]],
    ["443", []],
    ["3000-4000", [3389]],
    ["4000-3000", [3389]],
    ["1-65535", [22, 3389]],
    ["20-23", [22]],
    ["3390-4000", []],
    ["*", [22, 3389]],
    ["not-a-port", [22, 3389]],
  ])("%s covers %j", (spec, ports) => {
    expect(portsCovered(spec)).toEqual(ports);
  });
});

describe("sourceTooWide", () => {
  test.each([
    "*",
    "Any",
    "any",
    "Internet",
    "INTERNET",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "203.0.113.0/23",
    "2001:db8::/64",
    "VirtualNetwork",
    "AzureCloud",
    "300.1.1.1",
    "1.2.3.4/33",
  ])("%s is too wide", (source) => {
    expect(sourceTooWide(source)).toEqual(expect.any(String));
  });
  test.each(["203.0.113.7", "203.0.113.7/32", "203.0.113.0/24", "2001:db8::1", "2001:db8::/120"])("%s is narrow enough", (source) => {
    expect(sourceTooWide(source)).toBeUndefined();
  });
});

describe("ruleProblems", () => {
  test("a narrow RDP source passes; the same rule from the Internet fails", () => {
    expect(ruleProblems({ ...rdp, sourceAddressPrefix: "203.0.113.7/32" })).toEqual([]);
    expect(ruleProblems({ ...rdp, sourceAddressPrefix: "Internet" })).toEqual([
      'rule "r" allows inbound port 3389 from "Internet" is the whole Internet',
    ]);
  });
  test("every entry of sourceAddressPrefixes is checked", () => {
    const problems = ruleProblems({ ...rdp, sourceAddressPrefixes: ["203.0.113.7/32", "0.0.0.0/0"] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/"0\.0\.0\.0\/0" is wider than \/24/);
  });
  test("ranges and lists of destination ports that include 22 or 3389 count", () => {
    expect(ruleProblems({ ...rdp, destinationPortRange: "3000-4000", sourceAddressPrefix: "*" })).toHaveLength(1);
    expect(
      ruleProblems({ ...rdp, destinationPortRange: undefined, destinationPortRanges: ["80", "20-25"], sourceAddressPrefix: "*" })[0],
    ).toMatch(/port 22 from/);
    expect(ruleProblems({ ...rdp, destinationPortRange: "*", sourceAddressPrefix: "*" })[0]).toMatch(/port 22 and 3389 from/);
    expect(ruleProblems({ ...rdp, destinationPortRange: "443", sourceAddressPrefix: "*" })).toEqual([]);
  });
  test("deny rules, outbound rules and ICMP are not management access", () => {
    expect(ruleProblems({ ...rdp, access: "Deny", sourceAddressPrefix: "*" })).toEqual([]);
    expect(ruleProblems({ ...rdp, direction: "Outbound", sourceAddressPrefix: "*" })).toEqual([]);
    expect(ruleProblems({ ...rdp, protocol: "Icmp", sourceAddressPrefix: "*" })).toEqual([]);
  });
  test("UDP and * protocols count (RDP also runs over UDP 3389)", () => {
    expect(ruleProblems({ ...rdp, protocol: "Udp", sourceAddressPrefix: "*" })).toHaveLength(1);
    expect(ruleProblems({ ...rdp, protocol: "*", sourceAddressPrefix: "*" })).toHaveLength(1);
  });
  test("missing fields are read as the widest value", () => {
    expect(ruleProblems({ name: "bare" })).toEqual(['rule "bare" allows inbound port 22 and 3389 from "*" is any source']);
  });
  test("a rule whose source is only application security groups stays inside the VNet", () => {
    expect(ruleProblems({ ...rdp, sourceApplicationSecurityGroups: [{ id: "/asg" }] })).toEqual([]);
  });
});
