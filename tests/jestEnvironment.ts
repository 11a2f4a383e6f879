/**
 * jest's Node environment, with one cost taken out: Pulumi's SDK reads `new Error().stack` for every
 * promise it makes (runtime/debuggable.js, kept for its leak report) and for every resource (resource.js,
 * its source position). Under jest each read maps up to 100 frames (jest raises Error.stackTraceLimit to
 * 100) through the source maps: half of a program's run under the mock runtime (components/identityLab.test.ts,
 * --cpu-prof: 6.2 s of CPU before, 2.9 s after). Those two stacks get V8's own format, unmapped, and the
 * promise's keeps Node's default 10 frames; every other stack, a failing test's among them, stays mapped.
 */
import { TestEnvironment } from "jest-environment-node";

const PULUMI = /[\\/]node_modules[\\/]@pulumi[\\/]pulumi[\\/]/;
const PROMISE = /[\\/]runtime[\\/]debuggable\.js$/;
const RESOURCE = /[\\/]resource\.js$/;

type Prepare = (error: Error, callsites: NodeJS.CallSite[]) => unknown;

function v8Format(error: Error, callsites: NodeJS.CallSite[], limit: number): string {
  let text = String(error);
  for (const site of callsites.slice(0, limit)) text += `\n    at ${site}`;
  return text;
}

export default class PulumiTestEnvironment extends TestEnvironment {
  override async setup(): Promise<void> {
    await super.setup();
    // The worker's own realm: jest installs its source-map formatter there after the environment is built,
    // and errors made in the test's context fall back to it.
    const mapped = Error.prepareStackTrace as Prepare | undefined;
    if (!mapped || (mapped as { unmappedForPulumi?: true }).unmappedForPulumi) return;
    const prepare: Prepare & { unmappedForPulumi?: true } = (error, callsites) => {
      const top = callsites[0]?.getFileName() ?? "";
      if (PULUMI.test(top)) {
        if (PROMISE.test(top)) return v8Format(error, callsites, 10);
        if (RESOURCE.test(top)) return v8Format(error, callsites, callsites.length);
      }
      return mapped(error, callsites);
    };
    prepare.unmappedForPulumi = true;
    Error.prepareStackTrace = prepare;
  }
}
