import { readProbeOutcome, parseReport, scrubTokens, summarizeOutcome, verifySuccess, type ProbeReport } from "./report";
import { probeInstanceView, SUBSCRIPTION_ID } from "../offline/mockAzure";
import { forbiddenReport, stdoutWith, successReport } from "../offline/sampleReports";

const RG = "idlab-rg0badf00d";

describe("readProbeOutcome", () => {
  test("a successful report after progress lines", () => {
    const o = readProbeOutcome(probeInstanceView(stdoutWith(successReport(RG))) as any, RG);
    expect(o.status).toBe("succeeded");
    expect(o.report?.resourceGroup?.name).toBe(RG);
    expect(o.report?.attempts).toEqual({ imds: 1, resourceGroup: 4, permissions: 1 });
  });

  test("line ends rendered as literal \\n, as some CSE versions show them", () => {
    const stdout = ["[probe] imds: attempt 1 -> 200", successReport(RG), ""].join("\\n");
    expect(readProbeOutcome(probeInstanceView(stdout) as any, RG).status).toBe("succeeded");
  });

  test("a report whose strings hold escaped newlines is still read whole", () => {
    const report = successReport(RG, {
      resourceGroup: {
        id: `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${RG}`,
        name: RG,
        location: "l",
        provisioningState: "Succeeded",
        tags: { note: "a\nb" },
      },
    });
    const o = readProbeOutcome(probeInstanceView(stdoutWith(report)) as any, RG);
    expect(o.report?.resourceGroup?.tags).toEqual({ note: "a\nb" });
  });

  test("the stdout tail cut to its last 4,096 bytes keeps a report that is last and short", () => {
    const long = stdoutWith(successReport(RG), 200);
    const tail = Buffer.from(long).subarray(-4096).toString("utf8");
    expect(long.length).toBeGreaterThan(4096);
    expect(readProbeOutcome(probeInstanceView(tail) as any, RG).status).toBe("succeeded");
  });

  test("a report cut off at its start is unreadable, and says why", () => {
    const report = successReport(RG, { padding: "x".repeat(5000) });
    const tail = Buffer.from(stdoutWith(report)).subarray(-4096).toString("utf8");
    const o = readProbeOutcome(probeInstanceView(tail) as any, RG);
    expect(o.status).toBe("unreadable");
    expect(o).toMatchObject({ cause: expect.stringMatching(/cut off.*4,096 bytes/) });
  });

  test("a failed report names the cause and the next step", () => {
    const o = readProbeOutcome(probeInstanceView(stdoutWith(forbiddenReport(RG))) as any, RG);
    expect(o.status).toBe("failed");
    if (o.status !== "failed") throw new Error("unreachable");
    expect(o.cause).toMatch(/ARM kept refusing identity aaaaaaaa-.* on resource group idlab-rg0badf00d after 900.4s and 181 attempt/);
    expect(o.cause).toMatch(/x-ms-request-id 5c4f1b1e/);
    expect(o.nextStep).toMatch(/az role assignment list/);
    expect(o.nextStep).toMatch(/probeRerunToken/);
  });

  test("no report at all, with stderr", () => {
    const o = readProbeOutcome(probeInstanceView("starting\n", "At line:1 char:1 ParserError") as any, RG);
    expect(o.status).toBe("unreadable");
    expect(o).toMatchObject({ cause: expect.stringMatching(/wrote no report; stderr ends: At line:1/) });
  });

  test("the substatus code is matched whatever its case", () => {
    const view = { substatuses: [{ code: "componentStatus/StdOut/succeeded", message: stdoutWith(successReport(RG)) }] };
    expect(readProbeOutcome(view, RG).status).toBe("succeeded");
  });

  test("no instance view at all", () => {
    expect(readProbeOutcome(undefined, RG).status).toBe("unreadable");
  });

  test.each([
    ['{"schema":"identitylab.probe/v1","ok":true}', /lacks ok, attempts/],
    ['{"schema":"identitylab.probe/v1","ok":false,"attempts":{},"elapsedSeconds":1}', /gives no error/],
    ['{"schema":"identitylab.probe/v1","ok":true,"attempts":{},"elapsedSeconds":1,"resourceGroup":null}', /lacks resourceGroup/],
    ['{"schema":"identitylab.probe/v1","ok":tr', /not valid JSON/],
  ])("rejects an incoherent report %s", (line, problem) => {
    expect(parseReport(line)).toEqual({ problem: expect.stringMatching(problem) });
  });
});

describe("a success needs evidence, whatever the report's ok says", () => {
  const id = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${RG}`;
  const group = { id, name: RG, location: "eastus2", provisioningState: "Succeeded", tags: {} };
  const outcome = (extra: Record<string, unknown>, subscriptionId: string | undefined = SUBSCRIPTION_ID) =>
    readProbeOutcome(probeInstanceView(stdoutWith(successReport(RG, extra))) as any, RG, subscriptionId);

  test("the sample success is one (control), also without a subscription to compare, and whatever the id's case", () => {
    expect(outcome({}).status).toBe("succeeded");
    expect(outcome({}, undefined).status).toBe("succeeded");
    expect(outcome({ resourceGroup: { ...group, id: id.toUpperCase() } }).status).toBe("succeeded");
  });

  test.each([
    ["another group's id", { resourceGroup: { ...group, id: id.replace(RG, "other-rg") } }, "resourceGroup"],
    [
      "another subscription's group",
      { resourceGroup: { ...group, id: id.replace(SUBSCRIPTION_ID, "00000000-0000-0000-0000-000000000000") } },
      "resourceGroup",
    ],
    ["an id with a tail", { resourceGroup: { ...group, id: `${id}/providers/x` } }, "resourceGroup"],
    [
      "all-null group fields",
      { resourceGroup: { id: null, name: null, location: null, provisioningState: null, tags: {} } },
      "resourceGroup",
    ],
    ["no provisioningState", { resourceGroup: { ...group, provisioningState: "" } }, "resourceGroup"],
    ["another name", { resourceGroup: { ...group, name: "other" } }, "resourceGroup"],
    ["permissions {}", { permissions: {} }, "permissions"],
    ["permissions null", { permissions: null }, "permissions"],
    ["an entry without notDataActions", { permissions: [{ actions: ["*/read"], notActions: [], dataActions: [] }] }, "permissions"],
    [
      "actions that are not strings",
      { permissions: [{ actions: [1], notActions: [], dataActions: [], notDataActions: [] }] },
      "permissions",
    ],
    ["an entry that is a string", { permissions: ["*/read"] }, "permissions"],
  ])("%s is a failure (UnexpectedResponse) with a cause", (_what, extra, phase) => {
    const o = outcome(extra);
    expect(o.status).toBe("failed");
    if (o.status !== "failed") throw new Error("unreachable");
    expect(o.report.ok).toBe(false);
    expect(o.report.error).toMatchObject({ phase, status: 200, code: "UnexpectedResponse" });
    expect(o.cause).toMatch(/not with what was asked for/);
  });

  test("verifySuccess names what is wrong", () => {
    const r = JSON.parse(successReport(RG, { permissions: [{}] })) as ProbeReport;
    expect(verifySuccess(r, { resourceGroupName: RG })).toEqual({ phase: "permissions", problem: expect.stringMatching(/notDataActions/) });
    expect(verifySuccess(r, { resourceGroupName: "other" })).toMatchObject({ phase: "resourceGroup" });
  });
});

describe("token-like text never reaches an output or an error", () => {
  const jwt = `${Buffer.from('{"alg":"RS256","typ":"JWT"}').toString("base64url")}.${Buffer.from('{"oid":"x","exp":1}').toString("base64url")}.${"s".repeat(40)}`;

  test.each([
    [`Bearer ${jwt}`, "Bearer [redacted]"],
    ["a piece: eyJhbGciOiJSUzI1NiJ9", "a piece: [redacted]"],
    ["abcdefghijklmnopqrstu.abcdefghijklmnopqrstu.abcdefghijklmnopqrstu", "[redacted]"],
    // What must survive: hostnames, resource ids, dotted names.
    ["https://management.azure.com/", "https://management.azure.com/"],
    ["Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Resources/subscriptions/resourceGroups/read"],
    ["identity-lab.westeurope.prod01", "identity-lab.westeurope.prod01"],
  ])("scrubTokens(%s)", (text, expected) => {
    expect(scrubTokens(text)).toBe(expected);
  });

  test("a report's error, identity and tags are scrubbed, and so are the cause and stderr", () => {
    const report = JSON.parse(forbiddenReport(RG));
    report.error.message = `denied; token was ${jwt}`;
    report.error.code = `eyJhbGciOi${"x".repeat(20)}`;
    report.identity.resourceId = jwt;
    const o = readProbeOutcome(probeInstanceView(stdoutWith(JSON.stringify(report))) as any, RG);
    const text = JSON.stringify(o);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}/);
    expect(text).toMatch(/denied; token was \[redacted\]/);
    const unreadable = readProbeOutcome(probeInstanceView("no report\n", `Bearer ${jwt}`) as any, RG);
    expect(JSON.stringify(unreadable)).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}/);
  });
});

describe("summarizeOutcome: the stack's flat facts", () => {
  test("a success: every fact from the report, and no problem", () => {
    const o = readProbeOutcome({ substatuses: [{ code: "ComponentStatus/StdOut/succeeded", message: stdoutWith(successReport(RG)) }] }, RG);
    expect(summarizeOutcome(o)).toEqual({
      status: "succeeded",
      resourceGroup: {
        id: expect.stringMatching(new RegExp(`/resourceGroups/${RG}$`)),
        name: RG,
        location: "eastus2",
        provisioningState: "Succeeded",
        tags: { lab: "identity-lab" },
      },
      identityObjectId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
      permissions: [{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }],
      attempts: { imds: 1, resourceGroup: 4, permissions: 1 },
      elapsedSeconds: 17.3,
      problem: null,
    });
  });

  test("a failure: what the report has, null for what it lacks, and the problem", () => {
    const o = readProbeOutcome(
      { substatuses: [{ code: "ComponentStatus/StdOut/succeeded", message: stdoutWith(forbiddenReport(RG)) }] },
      RG,
    );
    const s = summarizeOutcome(o);
    expect(s).toMatchObject({ status: "failed", resourceGroup: null, permissions: null, elapsedSeconds: 900.4 });
    expect(s.identityObjectId).toBe("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    expect(s.problem).toEqual({
      cause: expect.stringMatching(/ARM kept refusing/),
      nextStep: expect.stringMatching(/az role assignment list/),
    });
  });

  test("unreadable: no facts, only the problem", () => {
    expect(summarizeOutcome(readProbeOutcome(undefined, RG))).toEqual({
      status: "unreadable",
      resourceGroup: null,
      identityObjectId: null,
      permissions: null,
      attempts: null,
      elapsedSeconds: null,
      problem: { cause: expect.stringMatching(/no StdOut substatus/), nextStep: expect.stringMatching(/az vm extension show/) },
    });
  });
});
