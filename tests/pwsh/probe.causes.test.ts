/**
 * The shared cause table (tests/probeFaults.ts) for the PowerShell probe: real pwsh, the embedded
 * script block as the VM runs it, against the emulator.
 */
import { runProbe } from "../../offline/pwsh";
import { probeFaultTable } from "../probeFaults";
import { FAST, RG } from "./probeLab";

describe("the cause table (probe/contract.md), each row made real", () => {
  probeFaultTable((lab, params = {}, env = {}) =>
    runProbe({
      params: { SubscriptionId: lab.emu.subscriptionId, ResourceGroupName: RG, DeadlineSeconds: 8, ...FAST, ...params },
      env: { IDENTITYLAB_IMDS_ENDPOINT: lab.emu.imdsUrl, IDENTITYLAB_ARM_URL: lab.emu.armUrl, ...env },
    }),
  );
});
