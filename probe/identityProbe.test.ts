/**
 * `pulumi preview` on a stack whose last probe failed: the read-back sees that old
 * run, which the coming update may redo, so it warns instead of failing.
 */
import * as pulumi from "@pulumi/pulumi";
import { IdentityProbe } from "../components";
import { probeInstanceView, installMocks, settle, standaloneProbe } from "../offline/mockAzure";
import { forbiddenReport, stdoutWith } from "../offline/sampleReports";

const azure = installMocks({ preview: true });

test("a failed last run is a warning in preview, not a failure", async () => {
  azure.instanceView = probeInstanceView(stdoutWith(forbiddenReport("rg")));
  const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
  const probe = new IdentityProbe("preview-probe", { ...standaloneProbe, failureMode: "fail" });
  expect(await settle(probe.failure)).toBeUndefined();
  expect(warn).toHaveBeenCalledTimes(1);
  expect(String(warn.mock.calls[0][0])).toMatch(/^The last run of the probe: The identity probe failed: ARM kept refusing/);
  warn.mockRestore();
});
