/**
 * The pack under Pulumi's own policy-pack runner, without the CLI: what `pulumi preview
 * --policy-pack policy` starts. The CLI runs the `pulumi-analyzer-policy` plugin in the pack's
 * folder; that script resolves '@pulumi/pulumi/cmd/run-policy-pack' from there with Node's
 * ordinary lookup (so from the repository root's node_modules) and runs it with the engine's
 * address and "."; the runner registers ts-node with type-checking, requires the folder
 * (index.ts), and PolicyPack reads the version from policy/package.json and prints the port of
 * its analyzer gRPC server. This test does the same, then plays the engine's part over gRPC.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { POLICY, POLICY_NAMES } from "./policies";
import { UNKNOWN } from "./testkit";

const PACK = __dirname;
const fromPulumi = (id: string) => require(require.resolve(id, { paths: [require.resolve("@pulumi/pulumi")] }));
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [require.resolve("@pulumi/policy")] }));
const analyzerRpc = fromPulumi("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzer = fromPulumi("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = fromPulumi("google-protobuf/google/protobuf/struct_pb");
const { Empty } = fromPulumi("google-protobuf/google/protobuf/empty_pb");

const SUB = "/subscriptions/11111111-2222-3333-4444-555555555555";
const READER = `${SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
const LAB = "urn:pulumi:dev::identity-lab::identitylab:lab:IdentityLab::idlab";
const GRANT = "urn:pulumi:dev::identity-lab::identitylab:lab:IdentityLab$identitylab:authorization:RoleGrant::idlab-reader";
const RA =
  "urn:pulumi:dev::identity-lab::identitylab:lab:IdentityLab$identitylab:authorization:RoleGrant$azure-native:authorization:RoleAssignment::idlab-reader-assignment";
const LEVEL = ["advisory", "mandatory", "disabled", "remediate"];

let pack: ChildProcess;
let client: any;
let startupMs = 0;
const call = (method: string, req: unknown): Promise<any> =>
  new Promise((resolve, reject) => client[method](req, (err: Error | null, resp: unknown) => (err ? reject(err) : resolve(resp))));

function analyzeRequest(urn: string, props: Record<string, unknown>) {
  const req = new analyzer.AnalyzeRequest();
  req.setUrn(urn);
  req.setType(urn.split("::")[2].split("$").pop());
  req.setName(urn.split("::").pop());
  req.setProperties(Struct.fromJavaScript(props));
  req.setOptions(new analyzer.AnalyzerResourceOptions());
  return req;
}

function stackResource(urn: string, props: Record<string, unknown>, parent?: string) {
  const r = new analyzer.AnalyzerResource();
  r.setUrn(urn);
  r.setType(urn.split("::")[2].split("$").pop());
  r.setName(urn.split("::").pop());
  r.setProperties(Struct.fromJavaScript(props));
  const options = new analyzer.AnalyzerResourceOptions();
  if (parent) options.setParent(parent);
  r.setOptions(options);
  if (parent) r.setParent(parent);
  return r;
}

const diagnostics = (resp: any) =>
  resp
    .getDiagnosticsList()
    .map((d: any) => ({ policy: d.getPolicyname(), level: LEVEL[d.getEnforcementlevel()], message: d.getMessage() }));

beforeAll(async () => {
  const started = Date.now();
  // What pulumi-analyzer-policy does: resolve the runner from the pack's folder, run it there.
  const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [PACK] });
  expect(runner.startsWith(path.resolve(PACK, "..", "node_modules"))).toBe(true);
  pack = spawn(process.execPath, [runner, "127.0.0.1:1", "."], { cwd: PACK, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  pack.stderr!.on("data", (d) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    pack.stdout!.on("data", (d) => {
      out += d;
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    pack.on("exit", (code) => reject(new Error(`the pack exited (${code}) before serving: ${stderr}${out}`)));
  });
  startupMs = Date.now() - started;
  client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 180_000);

afterAll(() => {
  client?.close();
  if (pack && pack.exitCode === null) pack.kill();
});

test("the runner loads the pack from the repository root's node_modules and describes every policy", async () => {
  const info = await call("getAnalyzerInfo", new Empty());
  expect(info.getName()).toBe("identity-lab-guardrails");
  expect(info.getVersion()).toBe("0.1.0");
  expect(info.getSupportsconfig()).toBe(true);
  const policies = info.getPoliciesList().map((p: any) => [p.getName(), LEVEL[p.getEnforcementlevel()]]);
  expect(policies.map((p: string[]) => p[0]).sort()).toEqual([...POLICY_NAMES].sort());
  expect(Object.fromEntries(policies)[POLICY.vmDeletesItsResources]).toBe("advisory");
  const initial = info.getInitialconfigMap();
  expect(initial.get(POLICY.noAssignmentAboveSubscription).getEnforcementlevel()).toBe(LEVEL.indexOf("mandatory"));
  const schema = info
    .getPoliciesList()
    .find((p: any) => p.getName() === POLICY.grantAboveResourceGroupNeedsAllowance)
    .getConfigschema()
    .getProperties()
    .toJavaScript();
  expect(schema.allowances.items.properties.scope.enum).toEqual(["subscription"]);
  console.log(`policy pack served after ${startupMs} ms`);
});

test("analyze: a root-scope assignment is a mandatory violation; an unknown scope is advisory", async () => {
  const root = diagnostics(
    await call("analyze", analyzeRequest(RA, { scope: "/", roleDefinitionId: READER, principalType: "ServicePrincipal" })),
  );
  expect(root).toEqual([
    {
      policy: POLICY.noAssignmentAboveSubscription,
      level: "mandatory",
      // The CLI shows the policy's description, then the reported message.
      message: `No role assignment at management-group, tenant or root scope; no configuration can allow one.\nRole assignment at root scope "/": assignments above a subscription are never allowed here.`,
    },
  ]);
  const unknown = diagnostics(
    await call("analyze", analyzeRequest(RA, { scope: UNKNOWN, roleDefinitionId: READER, principalType: "ServicePrincipal" })),
  );
  expect(unknown).toEqual([
    {
      policy: POLICY.noAssignmentAboveSubscription,
      level: "advisory",
      message: `can't run policy '${POLICY.noAssignmentAboveSubscription}' from policy pack 'identity-lab-guardrails@v0.1.0' during preview: string value at .scope can't be known during preview`,
    },
  ]);
});

test("analyzeStack: Reader at subscription scope fails without an allowance and passes once configured", async () => {
  const req = new analyzer.AnalyzeStackRequest();
  req.setResourcesList([
    stackResource(LAB, {}),
    stackResource(GRANT, {}, LAB),
    stackResource(RA, { scope: SUB, roleDefinitionId: READER, principalId: "p", principalType: "ServicePrincipal" }, GRANT),
  ]);
  const before = diagnostics(await call("analyzeStack", req));
  expect(before).toEqual([expect.objectContaining({ policy: POLICY.grantAboveResourceGroupNeedsAllowance, level: "mandatory" })]);
  expect(before[0].message).toMatch(/\nSetup "idlab" grants Reader .* without an allowance\./);

  // What the CLI sends from --policy-pack-config.
  const configure = new analyzer.ConfigureAnalyzerRequest();
  const entry = new analyzer.PolicyConfig();
  entry.setEnforcementlevel(LEVEL.indexOf("mandatory"));
  entry.setProperties(Struct.fromJavaScript({ allowances: [{ setup: "idlab", role: "Reader", scope: "subscription" }] }));
  configure.getPolicyconfigMap().set(POLICY.grantAboveResourceGroupNeedsAllowance, entry);
  await call("configure", configure);
  expect(diagnostics(await call("analyzeStack", req))).toEqual([]);
});
