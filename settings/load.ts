import * as pulumi from "@pulumi/pulumi";
import { checkConfigKeys } from "./keys";
import { PROJECT_KEYS, type LabSettings, type RawSettings } from "./schema";
import { show } from "./text";
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
    // An object-valued key (tags, setups) comes as its JSON text; getObject would parse it, but the rules want
    // the text to explain a parse failure themselves.
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
  if (problems.length > 0) {
    const secrets = secretValues(raw, project);
    throw new pulumi.RunError(
      new ConfigValidationError(
        problems.map((p) => redact(p, secrets)),
        project,
      ).message,
    );
  }
  return checked.settings;
}

/** The values of the lab's keys that the stack holds as secrets (each tag's value, for a secret map). */
function secretValues(raw: RawSettings, project: string): string[] {
  // Typed as internal in the SDK, exported at runtime; without it nothing is redacted beyond the rules' own care.
  const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  if (!isSecret) return [];
  const values: string[] = [];
  for (const k of PROJECT_KEYS) {
    const v = raw[k];
    if (v === undefined || !isSecret(`${project}:${k}`)) continue;
    values.push(v.trim());
    if (k === "tags") {
      try {
        for (const t of Object.values(JSON.parse(v) as Record<string, unknown>)) if (typeof t === "string") values.push(t);
      } catch {
        // Not JSON: its own problem says so, without the value.
      }
    }
  }
  return values.filter((v) => v !== "");
}

/** Messages quote values with show(); a secret's quoted value becomes [secret]. */
function redact(problem: string, secrets: readonly string[]): string {
  return secrets.reduce((p, s) => p.split(show(s)).join("[secret]"), problem);
}
