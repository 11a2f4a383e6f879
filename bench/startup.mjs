#!/usr/bin/env node
// Program start-up: from `node` starting to every resource registered under
// Pulumi's mock runtime, median of N runs, next to
//   - the floor: node -e "require('@pulumi/pulumi')"
//   - the same program importing the root "@pulumi/azure-native" package.
// The program is compiled once to JavaScript (bin/bench/) so that what is timed is
// the program and its imports, not TypeScript; ts-node's transpile-only cost is
// timed on its own line.
//
// Beside wall time, each case's own CPU time (user + system, all of the process's threads, read at exit): on a
// shared machine the wall ratio moves with the neighbours' load (1.26x to 1.74x within one hour here), CPU less.
//
// Usage: node bench/startup.mjs [runs=5]
import { spawnSync, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const runs = Number(process.argv[2] ?? 5);
const out = path.join(root, "bin", "bench");
const outRoot = path.join(root, "bin", "bench-root-import");

rmSync(out, { recursive: true, force: true });
rmSync(outRoot, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--outDir", out, "--sourceMap", "false"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
mkdirSync(path.join(out, "scripts"), { recursive: true });
cpSync(path.join(root, "scripts", "Invoke-IdentityProbe.ps1"), path.join(out, "scripts", "Invoke-IdentityProbe.ps1"));

// Registers mocks, loads the program and exits once the probe's status (the last
// thing that needs every resource) has resolved.
const runner = `
const pulumi = require("@pulumi/pulumi");
const { installMocks, probeInstanceView, valueOf } = require("./offline/mockAzure");
const { stdoutWith, successReport } = require("./offline/sampleReports");
const azure = installMocks();
pulumi.runtime.setAllConfig({});
azure.instanceView = (rg) => probeInstanceView(stdoutWith(successReport(rg)));
const program = require("./index");
valueOf(program.resourceGroupName).then(async () => {
  const status = await valueOf(program.probeStatus);
  if (status !== "succeeded" || azure.registered.length < 8) throw new Error("incomplete: " + status + " " + azure.registered.length);
  process.stdout.write(String(azure.registered.length));
});
`;
writeFileSync(path.join(out, "run.js"), runner);

// The mock runtime's own cost: as many registrations as the lab, of empty components.
const baseline = `
const pulumi = require("@pulumi/pulumi");
pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name + "_id", state: a.inputs }), call: (a) => a.inputs }, "p", "s", false);
class Empty extends pulumi.ComponentResource { constructor(n, o) { super("bench:index:Empty", n, {}, o); this.registerOutputs({}); } }
const first = new Empty("c0");
const all = [first];
for (let i = 1; i < Number(process.argv[2]); i++) all.push(new Empty("c" + i, { parent: first }));
Promise.all(all.map((c) => c.urn.promise())).then(() => process.stdout.write(String(all.length)));
`;
writeFileSync(path.join(out, "baseline.js"), baseline);

// Loaded with -r into every case, the floor too, so each pays the same for it.
writeFileSync(
  path.join(out, "cpu.cjs"),
  'process.on("exit", () => { const u = process.cpuUsage(); process.stderr.write("\\nidentitylab-cpu-ms " + (u.user + u.system) / 1000 + "\\n"); });\n',
);

cpSync(out, outRoot, { recursive: true });
function walk(dir) {
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith(".js")) {
      const js = readFileSync(p, "utf8").replace(/require\("@pulumi\/azure-native\/(\w+)"\)/g, 'require("@pulumi/azure-native").$1');
      writeFileSync(p, js);
    }
  }
}
walk(outRoot);

const cases = [
  ["floor: node -e require('@pulumi/pulumi')", ["-e", "require('@pulumi/pulumi')"]],
  ["mock runtime alone: 15 empty components registered", [path.join(out, "baseline.js"), "15"]],
  ["program, submodule imports (as shipped)", [path.join(out, "run.js")]],
  ["program, root @pulumi/azure-native import", [path.join(outRoot, "run.js")]],
  ["ts-node transpile-only: load probe/command.ts", ["-r", "ts-node/register/transpile-only", "-e", "require('./probe/command')"]],
];

const times = cases.map(() => []);
const cpu = cases.map(() => []);
for (let i = 0; i < runs; i++) {
  cases.forEach(([, args], c) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ["-r", path.join(out, "cpu.cjs"), ...args], { cwd: root, encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const used = /identitylab-cpu-ms (\S+)/.exec(r.stderr);
    if (r.status !== 0 || !used) throw new Error(`${cases[c][0]} failed:\n${r.stderr}`);
    times[c].push(ms);
    cpu[c].push(Number(used[1]));
  });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floor = median(times[0]);
const cpuFloor = median(cpu[0]);
console.log(`node ${process.version}, ${runs} runs each, medians from process start to exit: wall time, then CPU time`);
cases.forEach(([label], c) => {
  const m = median(times[c]);
  const u = median(cpu[c]);
  console.log(
    `${label.padEnd(58)} ${m.toFixed(0).padStart(6)} ms  ${(m / floor).toFixed(2)}x floor   ` +
      `${u.toFixed(0).padStart(6)} CPU-ms  ${(u / cpuFloor).toFixed(2)}x`,
  );
});
