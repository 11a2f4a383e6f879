/**
 * Which config keys the stack holds, checked against the keys the lab reads. Pulumi hands a
 * program every stack key (PULUMI_CONFIG, read back with pulumi.runtime.allConfig()) and
 * complains about none, so a typo such as `vmsize` or `identitylab:vmSize` would silently
 * deploy the default instead.
 */
import { PROJECT, PROJECT_KEYS } from "./schema";
import { closest, show, showKey } from "./text";

/** Provider namespaces the lab reads, and the keys it reads from them. */
const PROVIDER_KEYS: Readonly<Record<string, readonly string[]>> = { "azure-native": ["environment", "location"] };

/** Namespaces that are never a misspelt lab namespace, whatever the project is called. */
const OTHER_NAMESPACES = new Set(["pulumi", "azure-native", "azure", "azuread", "random", "command", "tls"]);

/** One problem per key that is a mistake; keys of other namespaces (other providers) are left alone. */
export function checkConfigKeys(keys: readonly string[], project: string = PROJECT): string[] {
  const problems: string[] = [];
  const settings = PROJECT_KEYS as readonly string[];
  for (const full of keys) {
    const colon = full.indexOf(":");
    if (colon < 0) continue;
    const ns = full.slice(0, colon);
    const name = full.slice(colon + 1);
    const suggestion = closest(name, settings);

    if (ns === project) {
      if (settings.includes(name)) continue;
      if (/^tags[.[]/.test(name)) {
        problems.push(
          `${showKey(full)}: is not a setting; a tag is part of the map ${project}:tags, set with --path: ` +
            `pulumi config rm ${quoteArg(name)} && pulumi config set --path ${quoteArg(name)} <value>.`,
        );
      } else if (/^setups[.[]/.test(name)) {
        problems.push(
          `${showKey(full)}: is not a setting; a setup's field is part of the list ${project}:setups, set with --path: ` +
            `pulumi config rm ${quoteArg(name)} && pulumi config set --path ${quoteArg(name)} <value>.`,
        );
      } else {
        problems.push(
          `${showKey(full)}: is not a setting of this lab` +
            (suggestion ? `; did you mean ${project}:${suggestion}?` : `; its settings are ${settings.join(", ")}.`),
        );
      }
      continue;
    }

    const providerKeys = PROVIDER_KEYS[ns];
    if (providerKeys) {
      const near = closest(name, providerKeys);
      if (near && near !== name) problems.push(`${showKey(full)}: did you mean ${ns}:${near}? The lab reads that key.`);
      continue;
    }
    if (OTHER_NAMESPACES.has(ns)) continue;

    const nearProject = closest(ns, [project]) ?? (ns === PROJECT || closest(ns, [PROJECT]) ? PROJECT : undefined);
    if (nearProject !== undefined) {
      const moved = `${project}:${suggestion ?? name}`;
      problems.push(
        `${showKey(full)}: this project is named ${show(project)}, so the lab reads its settings from ${project}:<key> ` +
          `and ignores the namespace ${show(ns)}. Move it: pulumi config rm ${quoteArg(full)} && pulumi config set ${quoteArg(moved)} <value>` +
          (ns === PROJECT ? ` (the template's namespace was ${PROJECT}:; \`pulumi new\` renamed the project).` : "."),
      );
      continue;
    }
    const nearProvider = closest(ns, Object.keys(PROVIDER_KEYS));
    if (nearProvider) problems.push(`${showKey(full)}: no provider reads the namespace ${show(ns)}; did you mean ${nearProvider}:${name}?`);
  }
  return problems;
}

/** A shell argument, quoted when it holds anything beyond [A-Za-z0-9:._-]. */
function quoteArg(text: string): string {
  return /^[A-Za-z0-9:._-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
