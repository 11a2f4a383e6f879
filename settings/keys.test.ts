/** The stack's keys against the keys the lab reads: typos, near-miss and foreign namespaces. */
import { checkConfigKeys } from "./keys";
import { PROJECT_KEYS } from "./schema";

describe("checkConfigKeys", () => {
  test("the lab's own keys, provider keys and other namespaces pass", () => {
    const keys = [
      ...PROJECT_KEYS.map((k) => `identity-lab:${k}`),
      "azure-native:location",
      "azure-native:environment",
      "azure-native:subscriptionId",
      "azure-native:clientId",
      "random:whatever",
      "pulumi:disable-default-providers",
      "aws:region",
    ];
    expect(checkConfigKeys(keys, "identity-lab")).toEqual([]);
  });

  test.each([
    ["identity-lab:vmsize", "identity-lab:vmSize"],
    ["identity-lab:rdpSourceCIDR", "identity-lab:rdpSourceCidr"],
    ["identity-lab:locaton", "identity-lab:location"],
    ["identity-lab:probeDeadline", "identity-lab:probeDeadlineSeconds"],
  ])("the typo %s is refused, suggesting %s", (key, suggestion) => {
    expect(checkConfigKeys([key], "identity-lab")).toEqual([`${key}: is not a setting of this lab; did you mean ${suggestion}?`]);
  });

  test("a key too far from any setting lists the settings", () => {
    const [problem] = checkConfigKeys(["identity-lab:colour"], "identity-lab");
    expect(problem).toMatch(
      /^identity-lab:colour: is not a setting of this lab; its settings are location, namePrefix, .*, tags, setups\.$/,
    );
  });

  test("a tag set without --path is explained", () => {
    expect(checkConfigKeys(["identity-lab:tags.owner"], "identity-lab")).toEqual([
      "identity-lab:tags.owner: is not a setting; a tag is part of the map identity-lab:tags, set with --path: " +
        "pulumi config rm tags.owner && pulumi config set --path tags.owner <value>.",
    ]);
  });

  test("a setup's field set without --path is explained", () => {
    expect(checkConfigKeys(["identity-lab:setups[0].os"], "identity-lab")).toEqual([
      "identity-lab:setups[0].os: is not a setting; a setup's field is part of the list identity-lab:setups, set with --path: " +
        "pulumi config rm 'setups[0].os' && pulumi config set --path 'setups[0].os' <value>.",
    ]);
  });

  test.each(["identitylab:vmSize", "Identity-Lab:vmSize", "identity_lab:vmSize", "identity-lb:vmSize"])(
    "the near-miss namespace %s is refused, with the key to use",
    (key) => {
      const [problem] = checkConfigKeys([key], "identity-lab");
      expect(problem).toBe(
        `${key}: this project is named "identity-lab", so the lab reads its settings from identity-lab:<key> and ignores the namespace ` +
          `"${key.split(":")[0]}". Move it: pulumi config rm ${key} && pulumi config set identity-lab:vmSize <value>.`,
      );
    },
  );

  test("after `pulumi new` renamed the project, the template's namespace is refused as foreign", () => {
    expect(checkConfigKeys(["my-lab:vmSize", "identity-lab:vmsize"], "my-lab")).toEqual([
      `identity-lab:vmsize: this project is named "my-lab", so the lab reads its settings from my-lab:<key> and ignores the namespace ` +
        `"identity-lab". Move it: pulumi config rm identity-lab:vmsize && pulumi config set my-lab:vmSize <value> ` +
        "(the template's namespace was identity-lab:; `pulumi new` renamed the project).",
    ]);
    expect(checkConfigKeys(["mylab:location"], "my-lab")[0]).toMatch(/^mylab:location: this project is named "my-lab"/);
  });

  test("near misses of the provider's namespace and keys", () => {
    expect(checkConfigKeys(["azure-nativ:location"], "identity-lab")).toEqual([
      'azure-nativ:location: no provider reads the namespace "azure-nativ"; did you mean azure-native:location?',
    ]);
    expect(checkConfigKeys(["azure-native:enviroment"], "identity-lab")).toEqual([
      "azure-native:enviroment: did you mean azure-native:environment? The lab reads that key.",
    ]);
  });

  test("invisible characters in a key are shown escaped", () => {
    expect(checkConfigKeys(["identity-lab:vmSize\u200b"], "identity-lab")).toEqual([
      "identity-lab:vmSize\\u200b: is not a setting of this lab; did you mean identity-lab:vmSize?",
    ]);
  });
});
