import { hostCommandFor } from "./pwshHost";
import { renderBootstrap, renderProbeCommand, readProbeScript } from "../probe/command";

describe("hostCommandFor: the PowerShell text a pwsh command line runs", () => {
  test("-EncodedCommand is base64 of UTF-16LE, after the switches the extension's command line carries", () => {
    const text = "'héllo'; exit 3";
    const b64 = Buffer.from(text, "utf16le").toString("base64");
    expect(hostCommandFor(["-ExecutionPolicy", "Bypass", "-NoProfile", "-NonInteractive", "-EncodedCommand", b64])).toBe(text);
  });

  test("the program's own commandToExecute decodes to the command it encodes", () => {
    const params = {
      subscriptionId: "00000000-0000-0000-0000-000000000000",
      resourceGroupName: "rg",
      armEndpoint: "https://management.azure.com/",
      deadlineSeconds: 900,
    };
    const [exe, ...args] = renderProbeCommand(readProbeScript(), params).split(" ");
    expect(exe).toBe("powershell");
    expect(hostCommandFor(args)).toBe(renderBootstrap(readProbeScript(), params));
  });

  test("-Command takes the rest of the line", () => {
    expect(hostCommandFor(["-NoProfile", "-Command", "'a';", "'b'"])).toBe("'a'; 'b'");
  });

  test("anything a host cannot stand in for is refused", () => {
    expect(() => hostCommandFor(["-File", "x.ps1"])).toThrow(/only -Command or -EncodedCommand/);
    expect(() => hostCommandFor(["-NoProfile"])).toThrow(/only -Command or -EncodedCommand/);
    expect(() => hostCommandFor(["-EncodedCommand", "AAAA", "-NoProfile"])).toThrow(/only -Command or -EncodedCommand/);
  });
});
