/**
 * The `setups` list (setups-design §1): JSON text as Pulumi hands an object-valued key to the
 * program (like tags), checked field by field, each problem naming its key path
 * (`<project>:setups[1].grants[0].role`). Pure: no Pulumi runtime here.
 */
import { closestRoleName, resolveRole } from "../components/roles";
import { MAX_GRANTS_PER_SETUP, readApiVersionFor } from "../probe/grants";
import type { Ipv4Cidr } from "./cidr";
import { size } from "./cidr";
import type { Namer } from "./rules";
import { checkVmSize } from "./rules";
import {
  DEFAULT_SETUPS,
  type GrantIdentity,
  type GrantScope,
  type GrantSettings,
  type IdentityKind,
  type SetupOs,
  type SetupSettings,
} from "./schema";
import { closest, show } from "./text";

/** At most this many setups per stack (setups-design §1); the subnet may hold fewer. */
export const MAX_SETUPS = 50;

/**
 * Azure keeps the first four addresses of every subnet and its last one. Source: Microsoft Learn, "Azure
 * Virtual Network frequently asked questions", "Are there any restrictions on using IP addresses within these
 * subnets?" (https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq).
 */
export const SUBNET_RESERVED_ADDRESSES = 5;

export const SETUP_FIELDS = ["name", "os", "identity", "userAssignedIdentityId", "vmSize", "grants"] as const;
export const GRANT_FIELDS = ["role", "scope", "identity", "condition", "conditionVersion", "apiVersion"] as const;

const SETUP_NAME = /^[a-z][a-z0-9]{0,7}$/;
const OS: readonly SetupOs[] = ["windows", "linux"];
const IDENTITIES: readonly IdentityKind[] = ["systemAssigned", "userAssigned", "both"];
const GRANT_IDENTITIES: readonly GrantIdentity[] = ["systemAssigned", "userAssigned"];
const SCOPE_WORDS = ["resourceGroup", "subscription", "storageAccount"] as const;
/** ARM id of a user-assigned identity (Microsoft.ManagedIdentity/userAssignedIdentities), compared case-insensitively as ARM does. */
const UAMI_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/]+$/i;
const ARM_ID = /^\/subscriptions\/[^/\s]+(?:\/[^/\s]+)*$/i;
const API_VERSION = /^\d{4}-\d{2}-\d{2}(?:-preview)?$/;
/**
 * Azure accepts only "2.0" (Role Assignments - Create, RoleAssignmentProperties.conditionVersion:
 * "Version of the condition. Currently the only accepted value is '2.0'",
 * https://learn.microsoft.com/rest/api/authorization/role-assignments/create).
 */
export const CONDITION_VERSIONS = ["2.0"];

/** Whether a grant is the tutorial's (Reader on the stack's resource group), for tutorial mode. */
export function isTutorialShape(setup: SetupSettings): boolean {
  return (
    setup.identity === "systemAssigned" &&
    setup.userAssignedIdentityId === "" &&
    setup.grants.length === 1 &&
    setup.grants[0].roleDefinitionGuid === "acdd72a7-3385-48ef-bd42-f606fba81ae7" &&
    setup.grants[0].scope.kind === "resourceGroup" &&
    setup.grants[0].condition === ""
  );
}

type Json = unknown;

function kind(v: Json): string {
  return v === null ? "null" : Array.isArray(v) ? "a list" : typeof v;
}

/** Unknown fields of an object, each with the nearest field name when there is one. */
function unknownFields(obj: Record<string, Json>, known: readonly string[], at: string, what: string): string[] {
  return Object.keys(obj)
    .filter((f) => !known.includes(f))
    .map((f) => {
      const near = closest(f, known);
      return `${at}.${/^[A-Za-z0-9_]+$/.test(f) ? f : `[${show(f)}]`}: is not a field of ${what}${near ? `; did you mean ${show(near)}?` : `; its fields are ${known.join(", ")}.`}`;
    });
}

/** An optional string field: undefined when absent; a problem when present but not a string. */
function optString(obj: Record<string, Json>, field: string, at: string, problems: string[]): string | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") {
    problems.push(`${at}.${field}: must be a string (got ${kind(v)}).`);
    return undefined;
  }
  return v.trim();
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T, at: string, problems: string[]): T {
  if (value === undefined || value === "") return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const near = closest(value, allowed);
  problems.push(`${at}: ${show(value)} must be one of ${allowed.join(", ")}${near ? `; did you mean ${show(near)}?` : "."}`);
  return fallback;
}

/** The scope as written: one of the words, or an ARM id whose read api-version the probe knows (or `apiVersion` gives). */
function parseScope(text: string | undefined, apiVersion: string, at: string, problems: string[]): GrantScope {
  const value = text === undefined || text === "" ? "resourceGroup" : text;
  const word = SCOPE_WORDS.find((w) => w === value);
  if (word) return { kind: word };
  if (!value.startsWith("/")) {
    const near = closest(value, SCOPE_WORDS);
    problems.push(
      `${at}: ${show(value)} is neither ${SCOPE_WORDS.join(", ")} nor an ARM resource id ("/subscriptions/…")` +
        (near ? `; did you mean ${show(near)}?` : "."),
    );
    return { kind: "resourceGroup" };
  }
  if (!ARM_ID.test(value) || value.endsWith("/")) {
    problems.push(
      `${at}: ${show(value)} is not an ARM resource id such as "/subscriptions/<id>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>".`,
    );
    return { kind: "resourceGroup" };
  }
  const known = readApiVersionFor(value);
  if (known === undefined && apiVersion === "") {
    problems.push(
      `${at}: the probe does not know the api-version to read ${show(value)} (probe/grants.ts READ_API_VERSIONS); ` +
        `give the grant an apiVersion, e.g. apiVersion: "2023-01-01".`,
    );
  }
  return { kind: "resource", id: value };
}

function checkGrant(raw: Json, at: string, setupIdentity: IdentityKind, problems: string[]): GrantSettings | undefined {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    problems.push(`${at}: must be a grant such as {role: Reader, scope: resourceGroup} (got ${kind(raw)}).`);
    return undefined;
  }
  const g = raw as Record<string, Json>;
  const before = problems.length;
  problems.push(...unknownFields(g, GRANT_FIELDS, at, "a grant"));

  const roleText = optString(g, "role", `${at}`, problems);
  let roleDefinitionGuid = "";
  let roleName = "";
  if (roleText === undefined || roleText === "") {
    if (g.role === undefined || g.role === null || roleText === "")
      problems.push(`${at}.role: is required: a built-in role name (e.g. "Reader") or a role-definition GUID.`);
  } else {
    const role = resolveRole(roleText);
    if (role === undefined) {
      const near = closestRoleName(roleText);
      problems.push(
        `${at}.role: ${show(roleText)} is not a built-in role` +
          (near ? `; did you mean ${show(near)}?` : ` of components/roles.ts, nor a role-definition GUID.`),
      );
    } else {
      roleDefinitionGuid = role.guid;
      roleName = role.kind === "builtIn" ? role.definition.roleName : "";
    }
  }

  const apiVersion = optString(g, "apiVersion", at, problems) ?? "";
  if (apiVersion !== "" && !API_VERSION.test(apiVersion)) {
    problems.push(`${at}.apiVersion: ${show(apiVersion)} is not an ARM api-version such as "2023-01-01" or "2024-05-01-preview".`);
  }
  const scope = parseScope(optString(g, "scope", at, problems), apiVersion, `${at}.scope`, problems);

  const identityText = optString(g, "identity", at, problems);
  let identity: GrantIdentity;
  if (identityText === undefined || identityText === "") {
    if (setupIdentity === "both") {
      problems.push(`${at}.identity: is required because the setup has both identities; set systemAssigned or userAssigned.`);
    }
    identity = setupIdentity === "userAssigned" ? "userAssigned" : "systemAssigned";
  } else {
    identity = oneOf(identityText, GRANT_IDENTITIES, "systemAssigned", `${at}.identity`, problems);
    if (GRANT_IDENTITIES.includes(identityText as GrantIdentity) && setupIdentity !== "both" && identityText !== setupIdentity) {
      problems.push(
        `${at}.identity: ${show(identityText)}, but the setup's identity is ${setupIdentity}; it has no ${identityText} identity.`,
      );
    }
  }

  const condition = optString(g, "condition", at, problems) ?? "";
  let conditionVersion = optString(g, "conditionVersion", at, problems) ?? "";
  if (condition === "" && conditionVersion !== "") {
    problems.push(`${at}.conditionVersion: is set without a condition; remove it or add the condition.`);
  } else if (condition !== "") {
    if (conditionVersion === "") conditionVersion = "2.0";
    else if (!CONDITION_VERSIONS.includes(conditionVersion)) {
      problems.push(
        `${at}.conditionVersion: ${show(conditionVersion)} must be "2.0", the only version Azure accepts for role assignment conditions.`,
      );
    }
  }
  if (problems.length > before) return undefined;
  return { role: roleText!, roleName, roleDefinitionGuid, scope, identity, condition, conditionVersion, apiVersion };
}

function scopeKey(scope: GrantScope): string {
  return scope.kind === "resource" ? scope.id.toLowerCase() : scope.kind;
}

function checkSetup(raw: Json, index: number, count: number, setupsKey: string, problems: string[]): SetupSettings | undefined {
  const at = `${setupsKey}[${index}]`;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    problems.push(`${at}: must be a setup such as {name: vm, os: windows} (got ${kind(raw)}).`);
    return undefined;
  }
  const s = raw as Record<string, Json>;
  const before = problems.length;
  problems.push(...unknownFields(s, SETUP_FIELDS, at, "a setup"));

  const nameText = optString(s, "name", at, problems);
  let name = "vm";
  if (nameText === undefined || nameText === "") {
    if (count > 1) problems.push(`${at}.name: is required when there is more than one setup.`);
  } else if (!SETUP_NAME.test(nameText)) {
    problems.push(`${at}.name: ${show(nameText)} must be 1-8 lowercase letters and digits, starting with a letter.`);
  } else name = nameText;

  const os = oneOf(optString(s, "os", at, problems), OS, "windows", `${at}.os`, problems);
  const identity = oneOf(optString(s, "identity", at, problems), IDENTITIES, "systemAssigned", `${at}.identity`, problems);

  const userAssignedIdentityId = optString(s, "userAssignedIdentityId", at, problems) ?? "";
  if (userAssignedIdentityId !== "") {
    if (!UAMI_ID.test(userAssignedIdentityId)) {
      problems.push(
        `${at}.userAssignedIdentityId: ${show(userAssignedIdentityId)} is not the ARM id of a user-assigned identity ` +
          `("/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>").`,
      );
    } else if (identity === "systemAssigned") {
      problems.push(
        `${at}.userAssignedIdentityId: is set, but the setup's identity is systemAssigned; set identity to userAssigned or both.`,
      );
    }
  }

  const vmSize = optString(s, "vmSize", at, problems) ?? "";
  if (vmSize !== "") {
    const p = checkVmSize(vmSize, () => `${at}.vmSize`);
    if (p) problems.push(p);
  }

  let grants: GrantSettings[] = [];
  const rawGrants = s.grants;
  if (rawGrants === undefined || rawGrants === null) {
    if (identity === "both") problems.push(`${at}.grants: is required when identity is both: each grant names the identity it is for.`);
    else grants = [{ ...DEFAULT_SETUPS[0].grants[0], identity: identity === "userAssigned" ? "userAssigned" : "systemAssigned" }];
  } else if (!Array.isArray(rawGrants)) {
    problems.push(`${at}.grants: must be a list of grants (got ${kind(rawGrants)}).`);
  } else if (rawGrants.length === 0 || rawGrants.length > MAX_GRANTS_PER_SETUP) {
    problems.push(
      `${at}.grants: ${rawGrants.length} grants; a setup has 1 to ${MAX_GRANTS_PER_SETUP} (the probe's report of each must fit ` +
        `the 4,096 bytes the Custom Script Extension keeps).`,
    );
  } else {
    const seen = new Map<string, number>();
    rawGrants.forEach((g, j) => {
      const grant = checkGrant(g, `${at}.grants[${j}]`, identity, problems);
      if (!grant) return;
      const key = `${grant.roleDefinitionGuid}|${scopeKey(grant.scope)}|${grant.identity}`;
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        problems.push(`${at}.grants[${j}]: repeats grants[${earlier}] (same role, scope and identity); keep one.`);
        return;
      }
      seen.set(key, j);
      grants.push(grant);
    });
  }
  if (problems.length > before) return undefined;
  return { name, os, identity, userAssignedIdentityId, vmSize, grants };
}

/**
 * The setups list. Absent: the tutorial's single setup. `subnet`, when usable, bounds how many VMs fit.
 */
export function checkSetups(
  text: string | undefined,
  key: Namer,
  options: { subnet?: Ipv4Cidr; subnetKey?: string } = {},
): { problems: string[]; setups: SetupSettings[] } {
  const problems: string[] = [];
  const k = key("setups");
  if (text === undefined || text.trim() === "") return { problems, setups: DEFAULT_SETUPS.map((s) => ({ ...s })) };
  let parsed: Json;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push(`${k}: is not a list of setups (set it in Pulumi.<stack>.yaml, or with: pulumi config set --path 'setups[0].name' vm).`);
    return { problems, setups: [] };
  }
  if (!Array.isArray(parsed)) {
    problems.push(`${k}: must be a list of setups, not ${kind(parsed)}.`);
    return { problems, setups: [] };
  }
  if (parsed.length === 0) {
    problems.push(`${k}: is empty; give at least one setup, or remove the key for the tutorial's single VM.`);
    return { problems, setups: [] };
  }
  if (parsed.length > MAX_SETUPS) {
    problems.push(`${k}: ${parsed.length} setups; a stack holds at most ${MAX_SETUPS}.`);
    return { problems, setups: [] };
  }
  if (options.subnet) {
    const usable = size(options.subnet) - SUBNET_RESERVED_ADDRESSES;
    if (parsed.length > usable) {
      problems.push(
        `${k}: ${parsed.length} setups need ${parsed.length} addresses, but ${options.subnetKey ?? key("subnetAddressPrefix")} ` +
          `/${options.subnet.prefix} has ${usable} (Azure keeps ${SUBNET_RESERVED_ADDRESSES} of each subnet); use a wider subnet.`,
      );
    }
  }
  const setups: SetupSettings[] = [];
  const names = new Map<string, number>();
  parsed.forEach((raw, i) => {
    const setup = checkSetup(raw, i, parsed.length, k, problems);
    if (!setup) return;
    const earlier = names.get(setup.name);
    if (earlier !== undefined) {
      problems.push(`${k}[${i}].name: ${show(setup.name)} is already the name of setups[${earlier}]; setup names are unique.`);
      return;
    }
    names.set(setup.name, i);
    setups.push(setup);
  });
  return { problems, setups };
}
