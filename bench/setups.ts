/**
 * Program evaluation with N setups in one stack, under Pulumi's mock runtime: from constructing the
 * IdentityLab to its `setups` output resolved (every resource registered, every probe read back and judged).
 * Reports the median ms per setup for N = 1, 10, 50 and the ratio (N=50 per setup) / (N=10 per setup);
 * target <= 1.5, i.e. the program stays linear in the number of setups.
 *
 *   npm run bench:setups [-- runs=5]
 *
 * Two shapes: "tutorial" setups (tutorial mode, the default's shape) and "grants" setups (a user-assigned
 * identity with a storage grant and a resource-group grant, delivered through a stand-in renderer, so the figure is the
 * program's own cost: the real renderWindowsProbe adds one deflate of the probe per setup).
 */
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { autoname } from "../offline/armFacts";
import { installMocks, probeInstanceView, SUBSCRIPTION_ID, uamiIds, valueOf } from "../offline/mockAzure";
import { stdoutWith, successReport } from "../offline/sampleReports";
import { IdentityLab } from "../components";
import { validateSettings } from "../settings/validate";
import type { GrantProbeSpec, ProbeParameters, WindowsProbeDelivery } from "../probe/command";

const runs = Number(process.argv.find((a) => a.startsWith("runs="))?.slice(5) ?? 5);
const SIZES = [1, 10, 50];
const azure = installMocks();

const BLOB_BLOCK = [
  [
    [
      "Microsoft.Storage/storageAccounts/blobServices/containers/read",
      "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
    ],
    [],
    ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"],
    [],
  ],
];

function setupsOf(n: number, shape: "tutorial" | "grants"): string {
  return JSON.stringify(
    Array.from({ length: n }, (_, i) =>
      shape === "tutorial"
        ? { name: `s${i}` }
        : {
            name: `s${i}`,
            identity: "userAssigned",
            grants: [
              { role: "Storage Blob Data Reader", scope: "storageAccount" },
              { role: "Reader", scope: "resourceGroup" },
            ],
          },
    ),
  );
}

const render = (_s: string, _p: ProbeParameters, grants: readonly GrantProbeSpec[]): WindowsProbeDelivery =>
  grants.length === 0 ? { commandToExecute: "tutorial" } : { commandToExecute: "loader", userData: "cHJvYmU=" };

let labs = 0;
async function once(n: number, shape: "tutorial" | "grants"): Promise<number> {
  const name = `b${++labs}`;
  const settings = validateSettings({ setups: setupsOf(n, shape), subnetAddressPrefix: "10.42.0.0/24" });
  azure.instanceView = (rg: string, vmName: string) => {
    if (shape === "tutorial") return probeInstanceView(stdoutWith(successReport(rg)));
    // The identity of this VM's setup ("<lab>-<setup>-vm…" -> "<lab>-<setup>-identity"), computed as the mock names
    // it rather than searched for: a scan of every registration would make the bench, not the program, quadratic.
    const setup = /^(.*)-vm[0-9a-f]{8}$/.exec(vmName)?.[1] ?? "";
    const uamiId = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${autoname(`${setup}-identity`)}`;
    const oid = uamiIds(uamiId).principalId;
    const grants = [
      { n: "g0", oid, read: 200, data: 200, perm: BLOB_BLOCK, cause: null, att: 2 },
      { n: "g1", oid, read: 200, data: null, perm: [[["*/read"], [], [], []]], cause: null, att: 2 },
    ];
    const report = {
      schema: "identitylab.probe/v1",
      ok: true,
      resourceGroup: null,
      identity: null,
      permissions: null,
      attempts: { imds: 2, resourceGroup: 0, permissions: 0 },
      elapsedSeconds: 9,
      trimmed: [],
      error: null,
      grants,
    };
    return probeInstanceView(stdoutWith(JSON.stringify(report)));
  };
  const start = performance.now();
  const lab = new IdentityLab(name, { settings, renderProbe: render });
  const summaries = await valueOf(lab.setups);
  const ms = performance.now() - start;
  const statuses = Object.values(summaries).map((s) => s.status);
  if (statuses.length !== n || statuses.some((s) => s !== "succeeded"))
    throw new Error(`bench stack ${name} did not succeed: ${statuses.join(",")}`);
  if (shape === "grants" && Object.values(summaries).some((s) => s.grants.some((g) => g.verdict !== "proven")))
    throw new Error("a grant was not proven");
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** One (shape, N) in this process: warm-up, then `runs` timed stacks; prints the median ms per setup. */
async function child(shape: "tutorial" | "grants", n: number) {
  // Warm up the module graph and the JIT once, untimed.
  await once(10, shape);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) times.push(await once(n, shape));
  process.stdout.write(String(median(times) / n));
}

/**
 * Each (shape, N) runs in a fresh process: the mock runtime keeps every registration of the process, and a
 * process that has already run big stacks is slower for all later ones, which would make the ratio depend on
 * the order of the sizes rather than on the program.
 */
function main() {
  console.log(`program evaluation under mocks, median of ${runs} runs, a fresh process per size (ms per setup)`);
  for (const shape of ["tutorial", "grants"] as const) {
    const perSetup: Record<number, number> = {};
    for (const n of SIZES) {
      const out = execFileSync(process.execPath, [...process.execArgv, __filename, `runs=${runs}`, `child=${shape}:${n}`], {
        encoding: "utf8",
      });
      perSetup[n] = Number(out.trim().split("\n").pop());
    }
    const ratio = perSetup[50] / perSetup[10];
    console.log(
      `${shape.padEnd(8)} ` +
        SIZES.map((n) => `N=${n}: ${perSetup[n].toFixed(2)} ms`).join("  ") +
        `  ratio N=50/N=10 per setup: ${ratio.toFixed(2)} (target <= 1.5)`,
    );
  }
}

const childArg = process.argv.find((a) => a.startsWith("child="))?.slice(6);
if (childArg) {
  const [shape, n] = childArg.split(":");
  child(shape as "tutorial" | "grants", Number(n)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main();
}
