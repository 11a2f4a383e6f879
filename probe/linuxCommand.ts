/**
 * The Linux delivery of the probe: the Custom Script extension for Linux
 * (Microsoft.Azure.Extensions/CustomScript 2.1) runs `protectedSettings.script`, base64 of the (optionally
 * gzipped) script, written to /var/lib/waagent/custom-script/#/script.sh and run by /bin/sh (dash on
 * Ubuntu), at most 256 KB (azure-compute-docs:articles/virtual-machines/extensions/custom-script-linux.md;
 * Azure/custom-script-extension-linux main/handlersettings.go rejects `script` beside `commandToExecute`).
 * The script takes no arguments there, so its parameters are bound in the text: `set --` right after the
 * shebang, each value single-quoted. Protected settings are encrypted on the VM and kept secret in Pulumi.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";

export const LINUX_PROBE_SCRIPT_PATH = path.join(__dirname, "..", "scripts", "identity-probe.sh");
export const LINUX_CSE = { publisher: "Microsoft.Azure.Extensions", type: "CustomScript", typeHandlerVersion: "2.1" } as const;
/** custom-script-linux.md: "The script ... can be up to 256 KB". Checked on the base64 text, the stricter reading. */
export const LINUX_SCRIPT_LIMIT_BYTES = 256 * 1024;

/** POSIX sh single quotes: nothing inside is special; a quote is closed, escaped and reopened. */
export function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The script with its parameters bound (`set -- -Name 'value' ...` after the shebang). */
export function bindShParameters(script: string, params: Readonly<Record<string, string | number>>): string {
  const nl = script.indexOf("\n");
  if (!script.startsWith("#!") || nl < 0) throw new Error("the sh probe must start with a #! line");
  const args = Object.entries(params).map(([k, v]) => {
    if (!/^[A-Za-z]+$/.test(k)) throw new Error(`bad probe parameter name ${JSON.stringify(k)}`);
    return `-${k} ${shQuote(String(v))}`;
  });
  return `${script.slice(0, nl + 1)}set -- ${args.join(" ")}\n${script.slice(nl + 1)}`;
}

export interface LinuxProbeSettings {
  readonly publisher: typeof LINUX_CSE.publisher;
  readonly type: typeof LINUX_CSE.type;
  readonly typeHandlerVersion: typeof LINUX_CSE.typeHandlerVersion;
  readonly protectedSettings: { readonly script: string };
  /** Changes with the script and its parameters, so that a change reruns the extension. */
  readonly forceUpdateTag: string;
}

/** The extension's settings for the sh probe; throws when the encoded script passes the 256 KB limit. */
export function renderLinuxProbe(
  params: Readonly<Record<string, string | number>>,
  script: string = readFileSync(LINUX_PROBE_SCRIPT_PATH, "utf8"),
): LinuxProbeSettings {
  const bound = bindShParameters(script, params);
  // mtime 0 is gzip's default in zlib, so the same input always encodes the same: no spurious reruns.
  const encoded = gzipSync(Buffer.from(bound, "utf8"), { level: 9 }).toString("base64");
  if (encoded.length > LINUX_SCRIPT_LIMIT_BYTES) {
    throw new Error(
      `the Linux probe script is ${encoded.length} bytes encoded, over the extension's ${LINUX_SCRIPT_LIMIT_BYTES}-byte limit`,
    );
  }
  const forceUpdateTag = createHash("sha256").update(bound).digest("hex").slice(0, 16);
  return { ...LINUX_CSE, protectedSettings: { script: encoded }, forceUpdateTag };
}
