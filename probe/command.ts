/**
 * Turns the probe script and its parameters into the Custom Script Extension's
 * `commandToExecute`.
 *
 * CSE runs the command through cmd.exe, whose line limit is 8,191 characters,
 * and `-EncodedCommand` (UTF-16LE, then base64) multiplies every character by
 * 2.67. A plain script would not fit, so the command carries a short bootstrap
 * plus the script raw-deflated and packed 15 bits per character into code
 * points U+4000..U+BFFF: no surrogates and no quote characters, so it is a safe
 * single-quoted PowerShell literal, and ~2.5x denser than base64 inside
 * -EncodedCommand. Only what Windows PowerShell 5.1 has is used to unpack it.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { deflateRawSync } from "node:zlib";

export const PROBE_SCRIPT_PATH = path.join(__dirname, "..", "scripts", "Invoke-IdentityProbe.ps1");

/** cmd.exe's limit, and the budget that keeps us well clear of it. */
export const CMD_LINE_LIMIT = 8191;
export const COMMAND_BUDGET = 7600;

export interface ProbeParameters {
  readonly subscriptionId: string;
  readonly resourceGroupName: string;
  readonly armEndpoint: string;
  readonly deadlineSeconds: number;
}

export function readProbeScript(file: string = PROBE_SCRIPT_PATH): string {
  return readFileSync(file, "utf8");
}

/**
 * Drops what only a human reader needs: the comment-based help block, whole-line
 * comments and indentation. The probe avoids here-strings, so no line of a
 * string literal can be mistaken for a comment.
 */
export function minifyPowerShell(source: string, mode: "tutorial" | "grants" = "tutorial"): string {
  const text = mode === "grants" ? source : stripGrantsRegions(source);
  return text
    .replace(/^\uFEFF/, "")
    .replace(/<#[\s\S]*?#>/g, "")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .join("\n");
}

/**
 * Tutorial mode does not need grants mode's code (`#region grants` ... `#endregion` blocks): without it the inline
 * command stays within cmd.exe's budget and byte-identical to the command before grants mode existed.
 */
export function stripGrantsRegions(source: string): string {
  return source.replace(/^[ \t]*#region grants[ \t]*\r?\n[\s\S]*?^[ \t]*#endregion[ \t]*(?:\r?\n|$)/gm, "");
}

const DENSE_BASE = 0x4000;
const DENSE_BITS = 15;

/** Packs bytes 15 bits per UTF-16 code unit, in U+4000..U+BFFF. */
export function packDense(bytes: Uint8Array): string {
  const codes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    if (bits >= DENSE_BITS) {
      bits -= DENSE_BITS;
      codes.push(DENSE_BASE + ((acc >>> bits) & 0x7fff));
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) codes.push(DENSE_BASE + ((acc << (DENSE_BITS - bits)) & 0x7fff));
  let out = "";
  for (let i = 0; i < codes.length; i += 4096) out += String.fromCharCode(...codes.slice(i, i + 4096));
  return out;
}

/** The inverse of packDense, as the bootstrap does it; used by tests. */
export function unpackDense(text: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let acc = 0;
  let bits = 0;
  let i = 0;
  for (const ch of text) {
    acc = (acc << DENSE_BITS) | (ch.charCodeAt(0) - DENSE_BASE);
    bits += DENSE_BITS;
    while (bits >= 8 && i < length) {
      bits -= 8;
      out[i++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** A single-quoted PowerShell string literal. */
export function psQuote(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201A\u201B]/g, "$&$&")}'`;
}

/** The PowerShell that runs on the VM: unpack, inflate, invoke with parameters. */
export function renderBootstrap(script: string, params: ProbeParameters): string {
  const deflated = deflateRawSync(Buffer.from(minifyPowerShell(script), "utf8"), { level: 9 });
  const args = [
    `-SubscriptionId ${psQuote(params.subscriptionId)}`,
    `-ResourceGroupName ${psQuote(params.resourceGroupName)}`,
    `-ArmEndpoint ${psQuote(params.armEndpoint)}`,
    `-DeadlineSeconds ${Math.trunc(params.deadlineSeconds)}`,
  ].join(" ");
  return [
    `$d='${packDense(deflated)}'`,
    `$n=${deflated.length}`,
    `$b=New-Object byte[] $n`,
    `$a=0;$k=0;$i=0`,
    `foreach($c in $d.ToCharArray()){$a=($a -shl 15) -bor ([int]$c-${DENSE_BASE});$k+=15;while($k -ge 8 -and $i -lt $n){$k-=8;$b[$i]=($a -shr $k) -band 255;$i++};$a=$a -band ((1 -shl $k)-1)}`,
    // CompressionMode 0 is Decompress; the cast keeps New-Object off the (Stream, CompressionLevel) overload.
    `$z=New-Object IO.Compression.DeflateStream((New-Object IO.MemoryStream(,$b)),([IO.Compression.CompressionMode]0))`,
    // StreamReader reads UTF-8 by default, on .NET Framework and .NET alike.
    `$t=(New-Object IO.StreamReader($z)).ReadToEnd()`,
    `& ([scriptblock]::Create($t)) ${args}`,
  ].join(";");
}

export class ProbeCommandTooLongError extends Error {}

/**
 * The extension's commandToExecute. Throws when it would not fit the budget, so
 * an oversized probe fails at `pulumi preview` rather than on the VM.
 */
export function renderProbeCommand(script: string, params: ProbeParameters): string {
  const encoded = Buffer.from(renderBootstrap(script, params), "utf16le").toString("base64");
  const command = `powershell -ExecutionPolicy Bypass -NoProfile -NonInteractive -EncodedCommand ${encoded}`;
  if (command.length > COMMAND_BUDGET) {
    throw new ProbeCommandTooLongError(
      `The probe's commandToExecute is ${command.length} characters; the budget is ${COMMAND_BUDGET} ` +
        `(cmd.exe stops at ${CMD_LINE_LIMIT}). Shorten scripts/Invoke-IdentityProbe.ps1.`,
    );
  }
  return command;
}

/**
 * CSE reruns only when its settings or forceUpdateTag change. The tag follows
 * what the probe will do (script, parameters) and the user's rerun token, so an
 * unchanged lab does not rerun and a changed one always does.
 */
export function probeForceUpdateTag(
  script: string,
  params: ProbeParameters,
  rerunToken: string,
  grants: readonly GrantProbeSpec[] = [],
): string {
  // Without grants the tag is the tutorial's, unchanged; with them it covers the userData's script and the grants too.
  const what =
    grants.length === 0
      ? { script: minifyPowerShell(script), params, rerunToken }
      : { script: minifyPowerShell(script, "grants"), params, rerunToken, grants };
  return createHash("sha256").update(JSON.stringify(what)).digest("hex").slice(0, 32);
}

/** One grant as the probe is told to prove it (setups-design §3): compact keys, because it rides in the command. */
export interface GrantProbeSpec {
  /** Key echoed back in the report. */
  readonly n: string;
  /** Scope ARM id. */
  readonly s: string;
  /** client_id of the user-assigned identity; "" for the system-assigned one. */
  readonly u: string;
  /** Proof kind: an ARM read of the scope, or List Blobs on a container too. */
  readonly k: "arm" | "blob";
  /** api-version of the ARM read of `s`. */
  readonly v: string;
  /** Blob container URL for k=blob; "" otherwise. */
  readonly b: string;
}

export interface WindowsProbeDelivery {
  readonly commandToExecute: string;
  /** Base64 for the VM's userData when the probe cannot ride inline; absent when it does. */
  readonly userData?: string;
}

/** Azure's limit for a VM's userData (base64): 64 KB (https://learn.microsoft.com/en-us/azure/virtual-machines/user-data). */
export const USER_DATA_LIMIT = 65536;

/** How long the loader retries IMDS for the userData before it reports `UserDataUnavailable` (seconds). */
export const USER_DATA_WAIT_SECONDS = 120;

/**
 * The VM's userData for grants mode: base64 of the raw-deflated UTF-8 text `<grants JSON>\n<minified probe>` (grants
 * regions kept). The grants ride here, not in the command, so the loader's size does not grow with them.
 */
export function renderProbeUserData(script: string, grants: readonly GrantProbeSpec[]): string {
  const text = `${grantsJson(grants)}\n${minifyPowerShell(script, "grants")}`;
  return deflateRawSync(Buffer.from(text, "utf8"), { level: 9 }).toString("base64");
}

/** The -Grants value: compact JSON, the spec's keys only, in the spec's order. */
export function grantsJson(grants: readonly GrantProbeSpec[]): string {
  return JSON.stringify(grants.map((g) => ({ n: g.n, s: g.s, u: g.u, k: g.k, v: g.v, b: g.b })));
}

/**
 * The loader that commandToExecute carries in grants mode. It fetches the VM's userData from IMDS
 * (instance-metadata-service.md "Get user data": `/metadata/instance/compute/userData?api-version=2021-01-01&format=text`
 * with `Metadata: true`, no proxy), retrying what IMDS's guidance says to retry (connection failures, 404, 410, 429, 5xx;
 * https://learn.microsoft.com/en-us/azure/virtual-machines/instance-metadata-service#errors-and-debugging) with capped
 * backoff for at most USER_DATA_WAIT_SECONDS (lowered by IDENTITYLAB_DEADLINE_SECONDS), then inflates it and runs the
 * probe with the parameters and -Grants (both halves of the userData, see renderProbeUserData). When it cannot, it prints the contract's compact report with error.phase "userData" and
 * code `UserDataUnavailable` (IMDS kept failing) or `UserDataInvalid` (empty, or not the deflated probe).
 * Only what Windows PowerShell 5.1 has is used.
 */
export function renderLoader(params: ProbeParameters): string {
  const args = [
    `-SubscriptionId ${psQuote(params.subscriptionId)}`,
    `-ResourceGroupName ${psQuote(params.resourceGroupName)}`,
    `-ArmEndpoint ${psQuote(params.armEndpoint)}`,
    `-DeadlineSeconds ${Math.trunc(params.deadlineSeconds)}`,
    `-Grants $g`,
  ].join(" ");
  return [
    `$ErrorActionPreference='Stop'`,
    `$w=[Diagnostics.Stopwatch]::StartNew()`,
    `$e=[Environment]::GetEnvironmentVariable('IDENTITYLAB_IMDS_ENDPOINT');if(-not $e){$e='http://169.254.169.254'}`,
    `$L=${USER_DATA_WAIT_SECONDS};$v=[Environment]::GetEnvironmentVariable('IDENTITYLAB_DEADLINE_SECONDS');if($v -and [double]$v -lt $L){$L=[double]$v}`,
    `$u=$e.TrimEnd('/')+'/metadata/instance/compute/userData?api-version=2021-01-01&format=text'`,
    `$t=$null;$s=$null;$c=$null;$m=$null;$n=0`,
    `while($true){$n++;$s=$null;try{$q=[Net.WebRequest]::Create($u);$q.Proxy=$null;$q.Headers.Add('Metadata','true');$q.Timeout=10000;$r=$q.GetResponse();$s=[int]$r.StatusCode;$t=(New-Object IO.StreamReader($r.GetResponseStream())).ReadToEnd();$r.Close();break}catch{$x=$_.Exception;while($x.InnerException){$x=$x.InnerException};$m=$x.Message;if($x.Response){$s=[int]$x.Response.StatusCode}}`,
    `$c='UserDataUnavailable';if($s -and $s -notin 404,410,429 -and $s -lt 500){break};$d=[Math]::Min(5,[Math]::Pow(2,$n-1));if($w.Elapsed.TotalSeconds+$d -ge $L){break};Start-Sleep -Milliseconds ([int]($d*1000))}`,
    `$p=$null;if($null -ne $t){try{$b=[Convert]::FromBase64String($t.Trim());$z=New-Object IO.Compression.DeflateStream((New-Object IO.MemoryStream(,$b)),([IO.Compression.CompressionMode]0));$p=(New-Object IO.StreamReader($z)).ReadToEnd();$i=$p.IndexOf([char]10);$g=$p.Substring(0,$i);$p=$p.Substring($i+1)}catch{$p=$null};if(-not $p){$c='UserDataInvalid';$m='the userData is not the deflated probe'}}`,
    `if($p){& ([scriptblock]::Create($p)) ${args};exit 0}`,
    `$m=("$m" -replace '[^\x20-\x7e]',' ' -replace '[\\\\"]',' ');if($m.Length -gt 200){$m=$m.Substring(0,200)}`,
    `[Console]::Out.WriteLine('{"schema":"identitylab.probe/v1","ok":false,"resourceGroup":null,"identity":null,"permissions":null,"attempts":{"imds":'+$n+',"resourceGroup":0,"permissions":0},"elapsedSeconds":'+[Math]::Round($w.Elapsed.TotalSeconds,1).ToString([Globalization.CultureInfo]::InvariantCulture)+',"trimmed":[],"error":{"phase":"userData","status":'+$(if($s){$s}else{'null'})+',"code":"'+$c+'","message":"'+$m+'","requestId":null},"grants":[]}')`,
  ].join(";");
}

/**
 * How the probe reaches a Windows VM (setups-design §4): the tutorial (no grants) inline in commandToExecute exactly
 * as renderProbeCommand makes it; with grants, the probe rides in the VM's userData and commandToExecute is the loader.
 */
export function renderWindowsProbe(script: string, params: ProbeParameters, grants: readonly GrantProbeSpec[] = []): WindowsProbeDelivery {
  if (grants.length === 0) return { commandToExecute: renderProbeCommand(script, params) };
  const userData = renderProbeUserData(script, grants);
  if (userData.length > USER_DATA_LIMIT) {
    throw new ProbeCommandTooLongError(`The probe's userData is ${userData.length} characters; Azure allows ${USER_DATA_LIMIT}.`);
  }
  const encoded = Buffer.from(renderLoader(params), "utf16le").toString("base64");
  const command = `powershell -ExecutionPolicy Bypass -NoProfile -NonInteractive -EncodedCommand ${encoded}`;
  if (command.length > COMMAND_BUDGET) {
    throw new ProbeCommandTooLongError(
      `The probe loader's commandToExecute is ${command.length} characters; the budget is ` +
        `${COMMAND_BUDGET} (cmd.exe stops at ${CMD_LINE_LIMIT}). Shorten the loader (probe/command.ts renderLoader).`,
    );
  }
  return { commandToExecute: command, userData };
}
