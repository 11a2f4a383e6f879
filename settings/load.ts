import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS, PROJECT, ProjectKey, RawSettings, LabSettings, validateSettings } from "./validate";

/**
 * Reads the stack's config as text and validates it. Throws a RunError (printed
 * without a stack trace) listing every problem, before any resource exists.
 */
export function loadSettings(): LabSettings {
  const project = new pulumi.Config(PROJECT);
  const raw: RawSettings = {};
  for (const k of [...Object.keys(DEFAULTS), "tags"] as ProjectKey[]) {
    const v = project.get(k);
    if (v !== undefined) raw[k] = v;
  }
  // azure-native reads its cloud from config or ARM_ENVIRONMENT; the probe must ask the same cloud for its token.
  raw.cloud = new pulumi.Config("azure-native").get("environment") ?? process.env.ARM_ENVIRONMENT ?? undefined;
  try {
    return validateSettings(raw);
  } catch (e) {
    throw new pulumi.RunError((e as Error).message);
  }
}
