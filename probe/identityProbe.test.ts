/**
 * `pulumi preview` on a stack whose last probe failed: the read-back sees that old
 * run, which the coming update may redo, so it warns instead of failing.
 */
import * as pulumi from "@pulumi/pulumi";
import { IdentityProbe } from "../components";
import { probeInstanceView, installMocks, settle, standaloneProbe } from "../offline/mockAzure";
import { forbiddenReport, stdoutWith } from "../offline/sampleReports";

const azure = installMocks({ preview: true });

test.each([
  ["stamped now", new Date()],
  ["stamped hours ago", new Date(Date.now() - 3 * 3600_000)],
  ["without a time", null],
])("a failed last run is a warning in preview, not a failure (%s)", async (_, endedAt) => {
  azure.instanceView = probeInstanceView(stdoutWith(forbiddenReport("rg")), "", endedAt);
  const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
  const probe = new IdentityProbe(`preview-probe-${String(endedAt?.getTime())}`, { ...standaloneProbe, failureMode: "fail" });
  expect(await settle(probe.failure)).toBeUndefined();
  expect(warn).toHaveBeenCalledTimes(1);
  expect(String(warn.mock.calls[0][0])).toMatch(/^The last run of the probe: The identity probe failed: ARM kept refusing/);
  warn.mockRestore();
});
