#!/usr/bin/env node
// The whole rehearsal (deploy into the simulated Azure, probe in pwsh, teardown),
// default config, no injected delays: wall time of `npm run rehearse`, median of N.
// Usage: node bench/rehearsal.mjs [runs=5]
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const runs = Number(process.argv[2] ?? 5);
const walls = [];
const inside = [];
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "offline/cli.ts", "--json"], {
    cwd: root,
    encoding: "utf8",
  });
  walls.push(Number(process.hrtime.bigint() - t0) / 1e6);
  if (r.status !== 0) throw new Error(`rehearsal failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  inside.push(JSON.parse(r.stdout.trim().split("\n").pop()).durationMs);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`node ${process.version}, ${runs} runs of \`npm run rehearse\` (default config, no injected faults or delays)`);
console.log(
  `wall time, process start to exit: median ${(median(walls) / 1000).toFixed(1)} s (min ${(Math.min(...walls) / 1000).toFixed(1)}, max ${(Math.max(...walls) / 1000).toFixed(1)})`,
);
console.log(`rehearsal itself (emulator up to teardown done): median ${(median(inside) / 1000).toFixed(1)} s`);
