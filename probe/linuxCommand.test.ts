import { gunzipSync } from "node:zlib";
import { bindShParameters, LINUX_SCRIPT_LIMIT_BYTES, renderLinuxProbe, shQuote } from "./linuxCommand";
import { linuxStatusStreams, readProbeOutcome } from "./report";

const SUB = "11111111-2222-3333-4444-555555555555";
const params = { SubscriptionId: SUB, ResourceGroupName: "rg", DeadlineSeconds: 900 };

describe("renderLinuxProbe", () => {
  test("CustomScript 2.1 with the gzip+base64 script in protectedSettings, parameters bound after the shebang", () => {
    const s = renderLinuxProbe(params);
    expect(s).toMatchObject({ publisher: "Microsoft.Azure.Extensions", type: "CustomScript", typeHandlerVersion: "2.1" });
    expect(Object.keys(s.protectedSettings)).toEqual(["script"]);
    const text = gunzipSync(Buffer.from(s.protectedSettings.script, "base64")).toString("utf8");
    expect(text.split("\n").slice(0, 2)).toEqual([
      "#!/bin/sh",
      `set -- -SubscriptionId '${SUB}' -ResourceGroupName 'rg' -DeadlineSeconds '900'`,
    ]);
    expect(s.protectedSettings.script.length).toBeLessThan(LINUX_SCRIPT_LIMIT_BYTES);
  });

  test("the same inputs give the same settings; another parameter reruns the extension", () => {
    expect(renderLinuxProbe(params)).toEqual(renderLinuxProbe(params));
    expect(renderLinuxProbe({ ...params, ResourceGroupName: "rg2" }).forceUpdateTag).not.toBe(renderLinuxProbe(params).forceUpdateTag);
  });

  test("a script past 256 KB encoded is refused, naming the limit", () => {
    let big = "#!/bin/sh\n";
    for (let i = 0; big.length < 400_000; i++) big += `: ${Math.random().toString(36)}${i}\n`;
    expect(() => renderLinuxProbe(params, big)).toThrow(/over the extension's 262144-byte limit/);
  });

  test("values are single-quoted: quotes and $ stay text", () => {
    expect(shQuote("a'b$c")).toBe(`'a'\\''b$c'`);
    expect(() => bindShParameters("no shebang\n", params)).toThrow(/#!/);
  });
});

// Real-shaped instance views of the Linux extension. The message is built as the handler builds it:
// Azure/custom-script-extension-linux 56a1e6f main/cmds.go L196 `fmt.Sprintf("\n[stdout]\n%s\n[stderr]\n%s", ...)`,
// main/status.go statusMsg ("Enable" + " succeeded" + ": " + msg), main/main.go L85 for a failure
// (errors.Wrap(err, err.Error()+msg)); the status code and display status are those of an extension's instance
// view (azure-native VirtualMachineExtensionInstanceView: statuses[].code "ProvisioningState/succeeded").
const report = `{"schema":"identitylab.probe/v1","ok":true,"resourceGroup":{"id":"/subscriptions/${SUB}/resourceGroups/rg","name":"rg","location":"westus","provisioningState":"Succeeded","tags":{}},"identity":{"objectId":"o","tenantId":"t","resourceId":"r","audience":"https://management.azure.com/","expiresOn":"2026-11-28T18:00:00Z"},"permissions":[{"actions":["*/read"],"notActions":[],"dataActions":[],"notDataActions":[]}],"attempts":{"imds":1,"resourceGroup":1,"permissions":1},"elapsedSeconds":0.4,"trimmed":[],"error":null}`;
const stdoutTail = `imds 200 #1 t=0.1\nresourceGroup 200 #1 t=0.2\npermissions 200 #1 t=0.3\n${report}\n`;
const linuxView = (message: string) => ({
  name: "identity-probe",
  type: "Microsoft.Azure.Extensions.CustomScript",
  typeHandlerVersion: "2.1.19",
  statuses: [{ code: "ProvisioningState/succeeded", level: "Info", displayStatus: "Provisioning succeeded", message }],
});

describe("the Linux status-message form", () => {
  test("Enable succeeded: the stdout and stderr tails are split, and the report is read as on Windows", () => {
    const view = linuxView(`Enable succeeded: \n[stdout]\n${stdoutTail}\n[stderr]\n`);
    expect(linuxStatusStreams(view)).toEqual({ stdout: stdoutTail, stderr: "" });
    const o = readProbeOutcome(view, "rg", SUB);
    expect(o.status).toBe("succeeded");
  });

  test("stderr text that imitates the markers does not move the split", () => {
    const view = linuxView(`Enable succeeded: \n[stdout]\n${stdoutTail}\n[stderr]\nnoise\n[stderr]\nmore\n`);
    expect(linuxStatusStreams(view)?.stderr).toBe("noise\n[stderr]\nmore\n");
    expect(readProbeOutcome(view, "rg", SUB).status).toBe("succeeded");
  });

  test("Enable failed (a non-zero exit): unreadable without a report, with stderr's tail in the cause", () => {
    const err = "command terminated with exit status=2";
    const view = linuxView(
      `Enable failed: ${err}: ${err}\n[stdout]\nimds 200 #1 t=0.1\n\n[stderr]\n/var/lib/waagent/custom-script/download/0/script.sh: 3: oops\n`,
    );
    const o = readProbeOutcome(view, "rg", SUB);
    expect(o.status).toBe("unreadable");
    expect(o.status === "unreadable" && o.cause).toMatch(/wrote no report; stderr ends: .*oops/);
  });

  test("a cut-off stdout tail (the last 4 KB of a longer stream) is told as cut off", () => {
    const view = linuxView(`Enable succeeded: \n[stdout]\n${"x".repeat(4096 - 20)}"elapsedSeconds":1}\n\n[stderr]\n`);
    expect(readProbeOutcome(view, "rg", SUB)).toMatchObject({ status: "unreadable", cause: expect.stringMatching(/cut off/) });
  });

  test("a status message without the tails is no report", () => {
    expect(linuxStatusStreams(linuxView("Enable in progress"))).toBeUndefined();
    expect(readProbeOutcome(linuxView("Enable in progress"), "rg")).toMatchObject({ status: "unreadable" });
  });
});
