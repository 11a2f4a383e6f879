import * as pulumi from "@pulumi/pulumi";
import { checkConfigKeys } from "./keys";
import { PROJECT_KEYS, type LabSettings, type RawSettings } from "./schema";
import { ConfigValidationError, checkSettings } from "./validate";

/**
 * Reads the stack's config and validates it: the lab's keys from the current project's
 * namespace (pulumi.getProject(), which `pulumi new` renames), and every key of the stack
 * (pulumi.runtime.allConfig(), Pulumi's PULUMI_CONFIG) for typos and foreign namespaces.
 * Throws one RunError (printed once, without a stack trace) listing every problem, before
 * any resource exists.
 */
export function loadSettings(): LabSettings {
  const project = pulumi.getProject();
  const config = new pulumi.Config();
  const raw: RawSettings = {};
  for (const k of PROJECT_KEYS) {
    const v = config.get(k);
    if (v !== undefined) raw[k] = v;
  }
  const provider = new pulumi.Config("azure-native");
  // azure-native reads its cloud from config or ARM_ENVIRONMENT; the probe must ask the same cloud for its token.
  raw.cloud = provider.get("environment") ?? process.env.ARM_ENVIRONMENT ?? undefined;
  raw.providerLocation = provider.get("location");

  const problems = [...checkConfigKeys(Object.keys(pulumi.runtime.allConfig()), project)];
  const checked = checkSettings(raw, { project });
  problems.push(...checked.problems);
  if (problems.length > 0) throw new pulumi.RunError(new ConfigValidationError(problems, project).message);
  return checked.settings;
}
