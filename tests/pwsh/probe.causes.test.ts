/**
 * The shared cause table (tests/probeFaults.ts) for the PowerShell probe: real pwsh, the embedded
 * script block as the VM runs it, against the emulator. Cases without an environment override go through
 * probeLab's probe() (the pooled hosts, or a process of its own with IDENTITYLAB_PROBE_RUNNER=process); the
 * one that points IMDS elsewhere runs in a pwsh process of its own, as it always did.
 */
import { runProbe } from "../../offline/pwsh";
import { probeFaultTable } from "../probeFaults";
import { FAST, probe, RG } from "./probeLab";

describe("the cause table (probe/contract.md), each row made real", () => {
  probeFaultTable((lab, params = {}, env) =>
    env
      ? runProbe({
          params: { SubscriptionId: lab.emu.subscriptionId, ResourceGroupName: RG, DeadlineSeconds: 8, ...FAST, ...params },
          env: { IDENTITYLAB_IMDS_ENDPOINT: lab.emu.imdsUrl, IDENTITYLAB_ARM_URL: lab.emu.armUrl, ...env },
        })
      : probe(lab, params),
  );
});
