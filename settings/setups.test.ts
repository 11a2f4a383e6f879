/** The setups list and the keys that came with it: every rule, each bad input naming its key path. */
import { generateKeyPairSync } from "node:crypto";
import { DEFAULT_SETUPS, validateSettings, ConfigValidationError, type RawSettings } from "./validate";
import { checkSetups, isTutorialShape, MAX_SETUPS } from "./setups";
import { checkSshPublicKey, checkSshSourceCidr, namer } from "./rules";
import { MAX_GRANTS_PER_SETUP } from "../probe/grants";

const key = namer("identity-lab");
const problems = (setups: unknown, options = {}) => checkSetups(JSON.stringify(setups), key, options).problems;
const only = (setups: unknown, options = {}) => {
  const p = problems(setups, options);
  expect(p).toHaveLength(1);
  return p[0];
};
const UAMI =
  "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app";
const VAULT = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/kv/providers/Microsoft.KeyVault/vaults/lab-kv";

function problemsOf(raw: RawSettings): readonly string[] {
  try {
    validateSettings(raw);
  } catch (e) {
    if (e instanceof ConfigValidationError) return e.problems;
    throw e;
  }
  return [];
}

describe("setups: the defaults", () => {
  test("absent: the tutorial's single setup, in tutorial mode", () => {
    const s = validateSettings({});
    expect(s.setups).toEqual(DEFAULT_SETUPS);
    expect(s.setups).toEqual([
      expect.objectContaining({
        name: "vm",
        os: "windows",
        identity: "systemAssigned",
        grants: [expect.objectContaining({ role: "Reader", scope: { kind: "resourceGroup" }, identity: "systemAssigned" })],
      }),
    ]);
    expect(isTutorialShape(s.setups[0])).toBe(true);
    expect(s).toMatchObject({ failOnOverPrivilege: false, sshSourceCidr: "", sshPublicKey: "" });
  });

  test("a single setup may leave out its name and its grants", () => {
    const { problems: p, setups } = checkSetups(JSON.stringify([{}]), key);
    expect(p).toEqual([]);
    expect(setups).toEqual(DEFAULT_SETUPS);
  });

  test("a full setup is read as written: roles resolved, scopes kept, conditions versioned", () => {
    const { problems: p, setups } = checkSetups(
      JSON.stringify([
        {
          name: "web",
          os: "windows",
          identity: "both",
          userAssignedIdentityId: UAMI,
          vmSize: "Standard_D2s_v5",
          grants: [
            {
              role: "storage blob data reader",
              scope: "storageAccount",
              identity: "userAssigned",
              condition: "@Resource[x] StringEquals 'y'",
            },
            { role: "Reader", scope: "subscription", identity: "systemAssigned" },
            { role: "4633458b-17de-408a-b874-0445c86b69e6", scope: VAULT, identity: "userAssigned" },
          ],
        },
        { name: "api", identity: "userAssigned" },
      ]),
      key,
    );
    expect(p).toEqual([]);
    expect(setups[0].grants).toEqual([
      expect.objectContaining({ roleName: "Storage Blob Data Reader", scope: { kind: "storageAccount" }, conditionVersion: "2.0" }),
      expect.objectContaining({ roleName: "Reader", scope: { kind: "subscription" }, condition: "", conditionVersion: "" }),
      expect.objectContaining({ roleName: "Key Vault Secrets User", scope: { kind: "resource", id: VAULT } }),
    ]);
    expect(setups[1]).toMatchObject({
      name: "api",
      identity: "userAssigned",
      grants: [expect.objectContaining({ identity: "userAssigned" })],
    });
    expect(isTutorialShape(setups[0])).toBe(false);
    expect(isTutorialShape(setups[1])).toBe(false);
  });
});

describe("setups: bad input, each naming its key path", () => {
  test.each<[string, string, RegExp]>([
    ["not JSON", "[{", /^identity-lab:setups: is not a list of setups/],
    ["a map", '{"name":"vm"}', /^identity-lab:setups: must be a list of setups, not object\.$/],
    ["empty", "[]", /^identity-lab:setups: is empty/],
  ])("the list: %s", (_, text, message) => {
    expect(checkSetups(text, key).problems).toEqual([expect.stringMatching(message)]);
  });

  test("more than MAX_SETUPS", () => {
    const many = Array.from({ length: MAX_SETUPS + 1 }, (_, i) => ({ name: `s${i}` }));
    expect(only(many)).toBe(`identity-lab:setups: ${MAX_SETUPS + 1} setups; a stack holds at most ${MAX_SETUPS}.`);
  });

  test("more setups than the subnet holds", () => {
    const message = problemsOf({
      subnetAddressPrefix: "10.42.1.0/29",
      setups: JSON.stringify([{ name: "a" }, { name: "b" }, { name: "c" }, { name: "d" }]),
    });
    expect(message).toEqual([
      "identity-lab:setups: 4 setups need 4 addresses, but identity-lab:subnetAddressPrefix /29 has 3 (Azure keeps 5 of each subnet); use a wider subnet.",
    ]);
    expect(
      problemsOf({ subnetAddressPrefix: "10.42.1.0/29", setups: JSON.stringify([{ name: "a" }, { name: "b" }, { name: "c" }]) }),
    ).toEqual([]);
  });

  test.each<[string, unknown, string]>([
    ["a setup that is not an object", ["vm"], "identity-lab:setups[0]: must be a setup such as {name: vm, os: windows} (got string)."],
    [
      "an unknown field, with the nearest",
      [{ grant: [] }],
      'identity-lab:setups[0].grant: is not a field of a setup; did you mean "grants"?',
    ],
    [
      "an unknown field, far from all",
      [{ colour: "red" }],
      "identity-lab:setups[0].colour: is not a field of a setup; its fields are name, os, identity, userAssignedIdentityId, vmSize, grants.",
    ],
    [
      "a bad name",
      [{ name: "Web-1" }],
      'identity-lab:setups[0].name: "Web-1" must be 1-8 lowercase letters and digits, starting with a letter.',
    ],
    [
      "a name too long",
      [{ name: "abcdefghi" }],
      'identity-lab:setups[0].name: "abcdefghi" must be 1-8 lowercase letters and digits, starting with a letter.',
    ],
    ["a name that is a number", [{ name: 7 }], "identity-lab:setups[0].name: must be a string (got number)."],
    ["no name among several", [{ name: "a" }, {}], "identity-lab:setups[1].name: is required when there is more than one setup."],
    [
      "a repeated name",
      [{ name: "a" }, { name: "a" }],
      'identity-lab:setups[1].name: "a" is already the name of setups[0]; setup names are unique.',
    ],
    ["an unknown os", [{ os: "windwos" }], 'identity-lab:setups[0].os: "windwos" must be one of windows, linux; did you mean "windows"?'],
    [
      "an unknown identity",
      [{ identity: "system" }],
      'identity-lab:setups[0].identity: "system" must be one of systemAssigned, userAssigned, both; did you mean "systemAssigned"?',
    ],
    [
      "a malformed identity id",
      [{ identity: "userAssigned", userAssignedIdentityId: "/subscriptions/x/app" }],
      'identity-lab:setups[0].userAssignedIdentityId: "/subscriptions/x/app" is not the ARM id of a user-assigned identity',
    ],
    [
      "an identity id on a system-assigned setup",
      [{ userAssignedIdentityId: UAMI }],
      "identity-lab:setups[0].userAssignedIdentityId: is set, but the setup's identity is systemAssigned; set identity to userAssigned or both.",
    ],
    ["a bad vmSize", [{ vmSize: "Standard_A1" }], 'identity-lab:setups[0].vmSize: "Standard_A1" is not a VM size this lab can use'],
    ["grants not a list", [{ grants: { role: "Reader" } }], "identity-lab:setups[0].grants: must be a list of grants (got object)."],
    ["no grants", [{ grants: [] }], `identity-lab:setups[0].grants: 0 grants; a setup has 1 to ${MAX_GRANTS_PER_SETUP}`],
    [
      "too many grants",
      [{ grants: ["Reader", "Contributor", "Owner", "Monitoring Reader"].map((role) => ({ role })) }],
      `identity-lab:setups[0].grants: 4 grants; a setup has 1 to ${MAX_GRANTS_PER_SETUP}`,
    ],
    [
      "both identities without grants",
      [{ identity: "both" }],
      "identity-lab:setups[0].grants: is required when identity is both: each grant names the identity it is for.",
    ],
    [
      "a grant that is not an object",
      [{ grants: ["Reader"] }],
      "identity-lab:setups[0].grants[0]: must be a grant such as {role: Reader, scope: resourceGroup} (got string).",
    ],
    [
      "an unknown grant field, with the nearest",
      [{ grants: [{ role: "Reader", scop: "subscription" }] }],
      'identity-lab:setups[0].grants[0].scop: is not a field of a grant; did you mean "scope"?',
    ],
    [
      "a grant without a role",
      [{ grants: [{ scope: "resourceGroup" }] }],
      'identity-lab:setups[0].grants[0].role: is required: a built-in role name (e.g. "Reader") or a role-definition GUID.',
    ],
    [
      "a mistyped role",
      [{ name: "a" }, { name: "b", grants: [{ role: "Reeder" }] }],
      'identity-lab:setups[1].grants[0].role: "Reeder" is not a built-in role; did you mean "Reader"?',
    ],
    [
      "a role nothing is near",
      [{ grants: [{ role: "Janitor" }] }],
      'identity-lab:setups[0].grants[0].role: "Janitor" is not a built-in role of components/roles.ts, nor a role-definition GUID.',
    ],
    [
      "an unknown scope word",
      [{ grants: [{ role: "Reader", scope: "resourcegroup" }] }],
      'identity-lab:setups[0].grants[0].scope: "resourcegroup" is neither resourceGroup, subscription, storageAccount nor an ARM resource id ("/subscriptions/…"); did you mean "resourceGroup"?',
    ],
    [
      "a malformed ARM id",
      [{ grants: [{ role: "Reader", scope: "/subscriptions/x/" }] }],
      'identity-lab:setups[0].grants[0].scope: "/subscriptions/x/" is not an ARM resource id',
    ],
    [
      "a resource type the probe cannot read",
      [{ grants: [{ role: "Reader", scope: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/app" }] }],
      'identity-lab:setups[0].grants[0].scope: the probe does not know the api-version to read "/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/app" (probe/grants.ts READ_API_VERSIONS); give the grant an apiVersion',
    ],
    [
      "a malformed apiVersion",
      [{ grants: [{ role: "Reader", apiVersion: "latest" }] }],
      'identity-lab:setups[0].grants[0].apiVersion: "latest" is not an ARM api-version such as "2023-01-01" or "2024-05-01-preview".',
    ],
    [
      "no identity on a grant of a setup with both",
      [{ identity: "both", grants: [{ role: "Reader" }] }],
      "identity-lab:setups[0].grants[0].identity: is required because the setup has both identities; set systemAssigned or userAssigned.",
    ],
    [
      "a grant for an identity the setup lacks",
      [{ grants: [{ role: "Reader", identity: "userAssigned" }] }],
      `identity-lab:setups[0].grants[0].identity: "userAssigned", but the setup's identity is systemAssigned; it has no userAssigned identity.`,
    ],
    [
      "an unknown grant identity",
      [{ identity: "both", grants: [{ role: "Reader", identity: "both" }] }],
      'identity-lab:setups[0].grants[0].identity: "both" must be one of systemAssigned, userAssigned.',
    ],
    [
      "a condition version without a condition",
      [{ grants: [{ role: "Reader", conditionVersion: "2.0" }] }],
      "identity-lab:setups[0].grants[0].conditionVersion: is set without a condition; remove it or add the condition.",
    ],
    [
      "a condition version Azure does not take",
      [{ grants: [{ role: "Storage Blob Data Reader", scope: "storageAccount", condition: "x", conditionVersion: "1.0" }] }],
      'identity-lab:setups[0].grants[0].conditionVersion: "1.0" must be "2.0", the only version Azure accepts for role assignment conditions.',
    ],
    [
      "a repeated grant",
      [{ grants: [{ role: "Reader" }, { role: "reader", scope: "resourceGroup" }] }],
      "identity-lab:setups[0].grants[1]: repeats grants[0] (same role, scope and identity); keep one.",
    ],
  ])("%s", (_, setups, message) => {
    expect(only(setups)).toContain(message);
  });

  test("the same role and scope for each of two identities is no repeat", () => {
    expect(
      problems([
        {
          identity: "both",
          grants: [
            { role: "Reader", identity: "systemAssigned" },
            { role: "Reader", identity: "userAssigned" },
          ],
        },
      ]),
    ).toEqual([]);
  });

  test("an ARM id of another type passes with its apiVersion", () => {
    expect(
      problems([
        {
          grants: [
            { role: "Reader", scope: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/app", apiVersion: "2023-12-01" },
          ],
        },
      ]),
    ).toEqual([]);
  });

  test("computerName names the setup vm's VM: refused when no setup is named vm", () => {
    expect(problemsOf({ computerName: "web01", setups: JSON.stringify([{ name: "web" }]) })).toEqual([
      'identity-lab:computerName: names the VM of the setup named "vm", and there is none; remove it (each setup\'s VM is "<namePrefix>-<setup>").',
    ]);
    expect(problemsOf({ computerName: "web01", setups: JSON.stringify([{ name: "web" }, { name: "vm" }]) })).toEqual([]);
  });

  test("os: linux is a setup like any other; another os is refused", () => {
    expect(problemsOf({ setups: '[{"os":"linux"}]' })).toEqual([]);
    expect(problemsOf({ setups: '[{"os":"Linux"}]' })).toEqual([expect.stringMatching(/setups\[0\]\.os: /)]);
  });

  test("every problem of every setup in one pass, keys named by the project", () => {
    const p = checkSetups(
      JSON.stringify([{ name: "A" }, { name: "b", grants: [{ role: "Reeder" }, { rol: "x" }] }]),
      namer("my-lab"),
    ).problems;
    expect(p).toEqual([
      expect.stringMatching(/^my-lab:setups\[0\]\.name: /),
      expect.stringMatching(/^my-lab:setups\[1\]\.grants\[0\]\.role: "Reeder"/),
      expect.stringMatching(/^my-lab:setups\[1\]\.grants\[1\]\.rol: is not a field of a grant; did you mean "role"\?/),
      expect.stringMatching(/^my-lab:setups\[1\]\.grants\[1\]\.role: is required/),
    ]);
  });
});

describe("failOnOverPrivilege, sshSourceCidr, sshPublicKey", () => {
  test("failOnOverPrivilege is true or false", () => {
    expect(validateSettings({ failOnOverPrivilege: "true" }).failOnOverPrivilege).toBe(true);
    expect(problemsOf({ failOnOverPrivilege: "yes" })).toEqual(['identity-lab:failOnOverPrivilege: "yes" must be true or false.']);
  });

  test("sshSourceCidr has rdpSourceCidr's narrowness", () => {
    expect(checkSshSourceCidr("203.0.113.7/32")).toBeUndefined();
    expect(checkSshSourceCidr("")).toBeUndefined();
    expect(checkSshSourceCidr("0.0.0.0/0")).toBe(
      'identity-lab:sshSourceCidr: "0.0.0.0/0" would open SSH to the whole Internet; give your own address, e.g. "203.0.113.7/32".',
    );
    expect(checkSshSourceCidr("203.0.112.0/23")).toMatch(/^identity-lab:sshSourceCidr: "203.0.112.0\/23" opens SSH to 512 addresses/);
    expect(checkSshSourceCidr("203.0.113.7/24")).toMatch(/host bits set/);
    expect(checkSshSourceCidr("127.0.0.1")).toMatch(/no SSH client connects from there/);
    expect(checkSshSourceCidr("ssh")).toMatch(/is not an IPv4 address or CIDR/);
  });

  // The SSH wire format's string: a uint32 length, then the bytes (RFC 4253 §6.6).
  const sshString = (b: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length);
    return Buffer.concat([length, b]);
  };
  const blob = (...parts: Buffer[]) => Buffer.concat(parts.map(sshString)).toString("base64");
  const mpint = (b64url: string) => {
    const n = Buffer.from(b64url, "base64url");
    return n[0] & 0x80 ? Buffer.concat([Buffer.from([0]), n]) : n;
  };
  const ed25519 = () => {
    const jwk = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
    return `ssh-ed25519 ${blob(Buffer.from("ssh-ed25519"), Buffer.from(jwk.x!, "base64url"))} alice@laptop`;
  };
  const rsa = (bits: number) => {
    const jwk = generateKeyPairSync("rsa", { modulusLength: bits }).publicKey.export({ format: "jwk" });
    return `ssh-rsa ${blob(Buffer.from("ssh-rsa"), mpint(jwk.e!), mpint(jwk.n!))}`;
  };

  test("sshPublicKey: an Ed25519 key, or RSA of 2048 bits or more", () => {
    expect(checkSshPublicKey("")).toBeUndefined();
    expect(checkSshPublicKey(ed25519())).toBeUndefined();
    expect(checkSshPublicKey(rsa(2048))).toBeUndefined();
    expect(validateSettings({ sshPublicKey: ed25519() }).sshPublicKey).toMatch(/^ssh-ed25519 /);
  });

  test.each<[string, () => string, RegExp]>([
    ["RSA under 2048 bits", () => rsa(1024), /the RSA key has 1024 bits; Azure wants at least 2048/],
    ["ECDSA", () => "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= x", /"ecdsa-sha2-nistp256" keys are not supported by Azure/],
    ["a private key", () => "-----BEGIN OPENSSH PRIVATE KEY-----", /is a private key; give the public key/],
    ["not a key line", () => "hello", /is not an OpenSSH public key line/],
    ["a type that its data contradicts", () => ed25519().replace(/^ssh-ed25519/, "ssh-rsa"), /is not a well-formed ssh-rsa key/],
    ["cut-off data", () => ed25519().slice(0, 40), /is not a well-formed ssh-ed25519 key/],
  ])("sshPublicKey refuses %s", (_, make, message) => {
    expect(checkSshPublicKey(make())).toMatch(/^identity-lab:sshPublicKey: /);
    expect(checkSshPublicKey(make())).toMatch(message);
  });
});
