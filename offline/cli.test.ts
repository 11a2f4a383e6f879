import { parseFault } from "./cli";

describe("--fault", () => {
  test.each([
    ["resourceGroup:200", { status: 200, headers: undefined }],
    ["imds:429:retry-after=3", { status: 429, headers: { "Retry-After": "3" } }],
    ["permissions:endless", { endless: true }],
    ["resourceGroup:trickle", { trickle: true }],
    ["imds:malformed", { malformed: true }],
  ])("%s", (spec, fault) => {
    expect(parseFault(spec)).toEqual([{ endpoint: spec.split(":")[0], fault }]);
  });

  test("xN repeats, and an unknown kind names the ones there are", () => {
    expect(parseFault("imds:endlessx3")).toHaveLength(3);
    expect(() => parseFault("imds:flood")).toThrow(/not a status, reset, hang, malformed, endless or trickle/);
  });
});
