/**
 * index.ts builds one PolicyPack from every policy with guardConfig()'s initialConfig.
 * The real PolicyPack would start the analyzer's gRPC server, so it is replaced here.
 */
jest.mock("@pulumi/policy", () => ({ ...jest.requireActual("@pulumi/policy"), PolicyPack: jest.fn() }));

import { PolicyPack } from "@pulumi/policy";
import { guardConfig } from "./config";
import { POLICIES } from "./policies";

test("the pack: its name, every policy, and the default config", () => {
  require("./index");
  const mocked = PolicyPack as unknown as jest.Mock;
  expect(mocked).toHaveBeenCalledTimes(1);
  const [name, args, initialConfig] = mocked.mock.calls[0];
  // The CLI only accepts alphanumerics, hyphens, underscores and periods (@pulumi/policy server.ts).
  expect(name).toMatch(/^[a-zA-Z0-9._-]+$/);
  expect(name).toBe("identity-lab-guardrails");
  expect(args.policies).toEqual([...POLICIES]);
  expect(initialConfig).toEqual(guardConfig());
  // @pulumi/policy refuses a schema that declares enforcementLevel.
  for (const p of POLICIES) expect(Object.keys(p.configSchema?.properties ?? {})).not.toContain("enforcementLevel");
});
