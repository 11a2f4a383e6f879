/**
 * The probe runs under Windows PowerShell 5.1 on the VM but is tested under
 * PowerShell 7, which accepts more. This test parses the script with
 * PowerShell's own parser and fails on what 5.1 lacks, on what breaks the
 * embedding (probe/contract.md), and on missing house rules (strict mode,
 * help, approved verbs). Negative controls prove each rule can fire.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { deflateRawSync } from "node:zlib";
import { PROBE_SCRIPT_PATH, stripGrantsRegions } from "../../probe/command";
import { minifyProbe, runPwshFile } from "../../offline/pwsh";

// PowerShell source kept free of backticks and "${" so it can live in a template literal.
const ANALYZER = String.raw`
param([string]$Paths)
$ErrorActionPreference = 'Stop'
$Path = $Paths -split ','
$L = 'System.Management.Automation.Language'
$ps7Cmdlets = @('Join-String', 'Get-Error', 'Test-Json', 'ConvertFrom-Markdown', 'Show-Markdown', 'Get-MarkdownOption',
  'Set-MarkdownOption', 'Get-Uptime', 'Remove-Alias', 'Remove-Service', 'Get-ExperimentalFeature',
  'Enable-ExperimentalFeature', 'Disable-ExperimentalFeature', 'Get-PSSubsystem', 'Out-ConsoleGridView')
$webCmdlets = @('Invoke-WebRequest', 'Invoke-RestMethod', 'iwr', 'irm', 'curl', 'wget')
# Parameters that no 5.1 cmdlet has (as far as the probe could use them).
$ps7Params = @('SkipHttpErrorCheck', 'StatusCodeVariable', 'ResponseHeadersVariable', 'MaximumRetryCount',
  'RetryIntervalSec', 'SkipCertificateCheck', 'NoProxy', 'SslProtocol', 'SkipHeaderValidation',
  'AllowUnencryptedAuthentication', 'PreserveAuthorizationOnRedirect', 'HttpVersion', 'AsHashtable', 'DateKind',
  'EscapeHandling', 'EnumsAsStrings', 'AsByteStream', 'AsUTC', 'UnixTimeSeconds', 'Parallel', 'SkipIndex',
  'LeafBase', 'AdditionalChildPath')
# Parameters that exist in 5.1 on other cmdlets but are 7-only on these.
$ps7ParamsOn = @{
  'ConvertFrom-Json' = @('Depth', 'NoEnumerate')
  'ConvertTo-Json'   = @('AsArray')
  'Sort-Object'      = @('Top', 'Bottom', 'Stable')
  'Get-Random'       = @('Shuffle')
  'Start-Sleep'      = @('Duration')
  'Split-Path'       = @('Extension')
  'ForEach-Object'   = @('ThrottleLimit', 'TimeoutSeconds', 'AsJob', 'UseNewRunspace')
  'Select-String'    = @('Raw', 'NoEmphasis')
  'Get-Content'      = @('AsByteStream')
}
$ps7Variables = @('PSStyle', 'IsWindows', 'IsLinux', 'IsMacOS', 'IsCoreCLR', 'PSNativeCommandArgumentPassing',
  'PSNativeCommandUseErrorActionPreference')
$netCoreMembers = @('Clamp', 'UnixEpoch', 'Shared', 'ToHexString', 'FromHexString', 'ThrowIfNull', 'ThrowIfNullOrEmpty')
$netCoreTypes = 'SocketsHttpHandler|System\.Text\.Json|^HashCode$|^System\.HashCode$|^Range$|^Index$|ReadOnlySpan|^Span'
$bt = [string][char]96
$verbs = @(Get-Verb | ForEach-Object { $_.Verb })
$cmdParams = @{}
$out = [ordered]@{}
foreach ($p in $Path) {
  $tokens = $null; $errors = $null
  $ast = [System.Management.Automation.Language.Parser]::ParseFile($p, [ref]$tokens, [ref]$errors)
  $f = [System.Collections.Generic.List[object]]::new()
  $add = { param($rule, $node) $f.Add([ordered]@{ rule = $rule; line = $node.Extent.StartLineNumber; text = ($node.Extent.Text -split [char]10)[0] }) }
  foreach ($e in $errors) { $f.Add([ordered]@{ rule = 'parse-error'; line = $e.Extent.StartLineNumber; text = $e.Message }) }
  $strict = $false; $stop = $false
  foreach ($n in $ast.FindAll({ $true }, $true)) {
    $type = $n.GetType().Name
    if ($type -eq 'TernaryExpressionAst') { & $add 'ternary' $n }
    if ($type -eq 'PipelineChainAst') { & $add 'pipeline-chain' $n }
    if ($type -eq 'BinaryExpressionAst' -and "$($n.Operator)" -eq 'QuestionQuestion') { & $add 'null-coalescing' $n }
    if ($type -eq 'AssignmentStatementAst' -and "$($n.Operator)" -eq 'QuestionQuestionEquals') { & $add 'null-coalescing-assignment' $n }
    if ($n.PSObject.Properties['NullConditional'] -and $n.NullConditional) { & $add 'null-conditional' $n }
    if ($type -eq 'NamedBlockAst' -and "$($n.BlockKind)" -eq 'Clean') { & $add 'clean-block' $n }
    if ($type -eq 'PipelineAst' -and $n.PSObject.Properties['Background'] -and $n.Background) { & $add 'background-operator' $n }
    if ($type -eq 'BinaryExpressionAst' -and "$($n.Operator)" -match 'replace$' -and
        @($n.Right.FindAll({ param($x) $x -is [System.Management.Automation.Language.ScriptBlockExpressionAst] }, $false)).Count) {
      & $add 'replace-scriptblock' $n
    }
    if ($type -in 'StringConstantExpressionAst', 'ExpandableStringExpressionAst') {
      if ("$($n.StringConstantType)" -like '*HereString') { & $add 'here-string' $n }
      if ("$($n.StringConstantType)" -like 'DoubleQuoted*' -and ($n.Extent.Text.Contains($bt + 'u{') -or $n.Extent.Text.Contains($bt + 'e'))) { & $add 'ps7-string-escape' $n }
    }
    if ($type -eq 'VariableExpressionAst') {
      $v = $n.VariablePath.UserPath
      if ($v -in 'PSScriptRoot', 'PSCommandPath', 'MyInvocation') { & $add 'script-path' $n }
      if ($v -in $ps7Variables) { & $add 'ps7-variable' $n }
    }
    if ($type -in 'MemberExpressionAst', 'InvokeMemberExpressionAst' -and $n.Static -and $n.Member.Extent.Text -in $netCoreMembers) { & $add 'netcore-api' $n }
    if ($type -in 'TypeExpressionAst', 'TypeConstraintAst' -and $n.TypeName.FullName -match $netCoreTypes) { & $add 'netcore-api' $n }
    if ($type -eq 'AssignmentStatementAst' -and $n.Left.Extent.Text -eq '$ErrorActionPreference' -and $n.Right.Extent.Text -match '^.Stop.$') { $stop = $true }
    if ($type -eq 'CommandAst') {
      $name = $n.GetCommandName()
      if ("$($n.InvocationOperator)" -eq 'Dot') { & $add 'dot-source' $n }
      if ($name -in $ps7Cmdlets) { & $add 'ps7-cmdlet' $n }
      if ($name -in $webCmdlets) { & $add 'web-cmdlet' $n }
      if ($name -eq 'ForEach-Object' -or $name -eq '%' -or $name -eq 'foreach') { $name = 'ForEach-Object' }
      $given = @($n.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] } | ForEach-Object { $_.ParameterName })
      foreach ($g in $given) {
        if ($g -in $ps7Params) { & $add 'ps7-parameter' $n }
        elseif ($name -and $ps7ParamsOn.ContainsKey($name) -and $g -in $ps7ParamsOn[$name]) { & $add 'ps7-parameter' $n }
      }
      # Abbreviated parameters resolve differently when a later version adds a parameter with the same prefix.
      $cmd = $null
      # Each name looked up once: Get-Command searches the module path every time (most of the analysis's CPU).
      if ($name -and -not $cmdParams.ContainsKey($name)) {
        $cmd = Get-Command $name -CommandType Cmdlet -ErrorAction SilentlyContinue
        $cmdParams[$name] = if ($cmd) { @($cmd.Parameters.Values | ForEach-Object { $_.Name; $_.Aliases }) } else { $null }
      }
      if ($name -and $null -ne $cmdParams[$name]) {
        $known = $cmdParams[$name]
        foreach ($g in $given) { if ($g -notin $known) { & $add 'abbreviated-parameter' $n } }
      }
      if ($name -eq 'Set-StrictMode' -and $n.Extent.Text -match '-Version\s+Latest') { $strict = $true }
    }
    if ($type -eq 'FunctionDefinitionAst') {
      $parts = $n.Name -split '-', 2
      if ($parts.Count -ne 2 -or $parts[0] -notin $verbs) { & $add 'unapproved-verb' $n }
    }
  }
  if (-not $strict) { $f.Add([ordered]@{ rule = 'missing-strict-mode'; line = 0; text = '' }) }
  if (-not $stop) { $f.Add([ordered]@{ rule = 'missing-error-action-stop'; line = 0; text = '' }) }
  $help = $ast.GetHelpContent()
  if ($null -eq $help -or -not $help.Synopsis) { $f.Add([ordered]@{ rule = 'missing-help'; line = 0; text = '' }) }
  $params = @()
  if ($null -eq $ast.ParamBlock) { $f.Add([ordered]@{ rule = 'missing-param-block'; line = 0; text = '' }) } else {
    if (-not @($ast.ParamBlock.Attributes | Where-Object { $_.TypeName.Name -eq 'CmdletBinding' }).Count) { $f.Add([ordered]@{ rule = 'missing-cmdletbinding'; line = 0; text = '' }) }
    foreach ($pa in $ast.ParamBlock.Parameters) {
      $pn = $pa.Name.VariablePath.UserPath
      $mandatory = [bool]($pa.Attributes | Where-Object { $_.TypeName.Name -eq 'Parameter' -and $_.Extent.Text -match 'Mandatory' })
      $default = $null
      if ($pa.DefaultValue) { $default = $pa.DefaultValue.SafeGetValue() }
      $params += [ordered]@{ name = $pn; type = $pa.StaticType.Name; mandatory = $mandatory; default = $default }
      if ($null -ne $help -and -not $help.Parameters.ContainsKey($pn.ToUpperInvariant())) { $f.Add([ordered]@{ rule = 'undocumented-parameter'; line = $pa.Extent.StartLineNumber; text = $pn }) }
    }
  }
  $tk = @($tokens | Where-Object { "$($_.Kind)" -notin 'Comment', 'NewLine', 'EndOfInput' } | ForEach-Object { "$($_.Kind):$($_.Text)" })
  $out[$p] = [ordered]@{ findings = @($f); params = $params; tokens = $tk }
}
ConvertTo-Json -InputObject $out -Depth 6 -Compress
`;

interface Finding {
  rule: string;
  line: number;
  text: string;
}
interface Analysis {
  findings: Finding[];
  params: { name: string; type: string; mandatory: boolean; default: unknown }[];
  tokens: string[];
}

// Every rule above, each triggered once; the backtick escapes are built with a variable.
const BT = "`";
const BAD_FIXTURE = [
  "param([string]$A)",
  "$x = $null ?? 1",
  "$x ??= 2",
  "$y = $true ? 1 : 2",
  // Braces are required: "$x?" alone is a variable named "x?".
  "$z = ${x}?.Length",
  "$w = ${x}?[0]",
  "Get-Date && Get-Date",
  "function f { process { 1 } clean { 2 } }",
  "function DoThing { 1 }",
  "Get-Date &",
  "'a' -replace 'a', { 'b' }",
  `$s = "${BT}u{2603}"`,
  "$h = @'\nline\n'@",
  "$p = $PSScriptRoot",
  "$q = $PSStyle",
  "[Math]::Clamp(1, 2, 3)",
  "[System.Net.Http.SocketsHttpHandler]::new()",
  ". ./other.ps1",
  "'{}' | Join-String",
  "Invoke-WebRequest -Uri http://x -SkipHttpErrorCheck",
  "Invoke-RestMethod -Uri http://x -StatusCodeVariable sc -NoProxy -SkipCertificateCheck -ResponseHeadersVariable rh -MaximumRetryCount 2",
  "'{}' | ConvertFrom-Json -AsHashtable",
  "'{}' | ConvertFrom-Json -Depth 3",
  "1, 2 | ForEach-Object -Parallel { $_ }",
  "Get-Date -Form 'x'",
  "Start-Sleep -Duration 00:00:01",
  "$err = Get-Error",
  "if ($true) {",
].join("\n");

const EXPECTED_RULES = [
  "parse-error",
  "null-coalescing",
  "null-coalescing-assignment",
  "ternary",
  "null-conditional",
  "pipeline-chain",
  "clean-block",
  "unapproved-verb",
  "background-operator",
  "replace-scriptblock",
  "ps7-string-escape",
  "here-string",
  "script-path",
  "ps7-variable",
  "netcore-api",
  "dot-source",
  "ps7-cmdlet",
  "web-cmdlet",
  "ps7-parameter",
  "abbreviated-parameter",
  "missing-strict-mode",
  "missing-error-action-stop",
  "missing-help",
  "missing-cmdletbinding",
];

const GOOD_FIXTURE = [
  "<#",
  ".SYNOPSIS",
  "A clean script.",
  ".PARAMETER Name",
  "Who.",
  "#>",
  "[CmdletBinding()]",
  "param([string]$Name = 'x')",
  "Set-StrictMode -Version Latest",
  "$ErrorActionPreference = 'Stop'",
  "function Get-Thing([string]$N) { if ($null -eq $N) { 'none' } else { $N } }",
  "$o = '{\"a\":1}' | ConvertFrom-Json",
  "ConvertTo-Json -InputObject @{ a = @(1) } -Depth 4 -Compress",
  "Start-Sleep -Milliseconds 1",
].join("\n");

// A multi-line string whose second line starts with '#': minification would delete that line.
const BAD_EMBED_FIXTURE = ["$s = 'first", "# not a comment", "  indented'", "$s"].join("\n");

let analyses: Record<string, Analysis>;
let files: {
  bad: string;
  good: string;
  badEmbed: string;
  badEmbedMin: string;
  probeMin: string;
  probeMinGrants: string;
  probeTutorial: string;
};

beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), "probe-portability-"));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text, "utf8");
    return file;
  };
  const analyzer = write("analyze.ps1", ANALYZER);
  files = {
    bad: write("bad.ps1", BAD_FIXTURE),
    good: write("good.ps1", GOOD_FIXTURE),
    badEmbed: write("bad-embed.ps1", BAD_EMBED_FIXTURE),
    badEmbedMin: write("bad-embed.min.ps1", minifyProbe(BAD_EMBED_FIXTURE)),
    probeMin: write("probe.min.ps1", minifyProbe(readFileSync(PROBE_SCRIPT_PATH, "utf8"))),
    // What the VM's userData carries in grants mode: the whole probe, grants regions kept.
    probeMinGrants: write("probe.grants.min.ps1", minifyProbe(readFileSync(PROBE_SCRIPT_PATH, "utf8"), "grants")),
    // The tutorial's text before minification: the probe without its grants regions.
    probeTutorial: write("probe.tutorial.ps1", stripGrantsRegions(readFileSync(PROBE_SCRIPT_PATH, "utf8"))),
  };
  const r = runPwshFile(analyzer, ["-Paths", [PROBE_SCRIPT_PATH, ...Object.values(files)].join(",")]);
  if (r.status !== 0) throw new Error(`analyzer failed (${r.status}): ${r.stderr}\n${r.stdout}`);
  analyses = JSON.parse(r.stdout.trim().split(/\r?\n/).pop()!);
});

describe("probe portability to Windows PowerShell 5.1", () => {
  test("the probe parses and uses nothing that 5.1 or the embedding lacks", () => {
    expect(analyses[PROBE_SCRIPT_PATH].findings).toEqual([]);
  });

  test("negative control: every rule fires on a fixture built to break it", () => {
    const fired = new Set(analyses[files.bad].findings.map((f) => f.rule));
    expect([...EXPECTED_RULES].filter((rule) => !fired.has(rule))).toEqual([]);
    // Each 7-only parameter is flagged on its own, not just one per line.
    const params = analyses[files.bad].findings.filter((f) => f.rule === "ps7-parameter").length;
    expect(params).toBeGreaterThanOrEqual(10);
  });

  test("positive control: a clean 5.1 script has no findings", () => {
    expect(analyses[files.good].findings).toEqual([]);
  });

  test("the parameters are exactly the contract's, with its defaults", () => {
    const doc = readFileSync(path.join(__dirname, "..", "..", "probe", "contract.md"), "utf8");
    const table = [...doc.matchAll(/^\|\s*`-(\w+)`\s*\|\s*(.+?)\s*\|/gm)].map(([, name, def]) => ({
      name,
      mandatory: def.trim() === "(required)",
      // `''` is how the table writes an empty string default.
      default: def.trim() === "(required)" ? null : def.trim().replace(/^`|`$/g, "").replace(/^''$/, ""),
    }));
    expect(table.length).toBeGreaterThanOrEqual(8);
    const actual = analyses[PROBE_SCRIPT_PATH].params.map((p) => ({
      name: p.name,
      mandatory: p.mandatory,
      default: p.default === null || p.default === undefined ? null : String(p.default),
    }));
    expect(actual).toEqual(table);
  });

  test("minification (help block, whole-line comments, indentation) leaves the probe's tokens unchanged", () => {
    expect(analyses[files.probeMin].findings.filter((f) => f.rule === "parse-error")).toEqual([]);
    expect(analyses[files.probeMinGrants].findings.filter((f) => f.rule === "parse-error")).toEqual([]);
    expect(analyses[files.probeMinGrants].tokens).toEqual(analyses[PROBE_SCRIPT_PATH].tokens);
    // The tutorial's inline text is the probe minus its grants regions, token for token.
    expect(analyses[files.probeTutorial].findings).toEqual([]);
    expect(analyses[files.probeMin].tokens).toEqual(analyses[files.probeTutorial].tokens);
    expect(analyses[files.probeMin].tokens.length).toBeLessThan(analyses[files.probeMinGrants].tokens.length);
  });

  test("negative control: a string line that looks like a comment is caught by the token comparison", () => {
    expect(analyses[files.badEmbedMin].tokens).not.toEqual(analyses[files.badEmbed].tokens);
  });

  test("the minified, raw-deflated probe stays within what the command budget leaves it (4,100 bytes)", () => {
    // The binding limit is the command's length (probe/command.test.ts renders it with the longest parameters);
    // this bound says the same in bytes, so that growth shows up here too.
    const min = minifyProbe(readFileSync(PROBE_SCRIPT_PATH, "utf8"));
    const size = deflateRawSync(Buffer.from(min, "utf8"), { level: 9 }).length;
    expect(size).toBeLessThanOrEqual(4100);
  });

  test("every .NET member the probe calls is on the list checked against .NET Framework 4.8", () => {
    // Each entry was checked in the .NET API reference (learn.microsoft.com/dotnet/api, "Applies to") to exist in
    // .NET Framework 4.8; the probe must not reach for anything else without adding it here the same way.
    const NETFX48 = new Set([
      "[Console]::Out",
      "[Convert]::FromBase64String",
      "[DateTimeOffset]::FromUnixTimeSeconds",
      "[DateTimeOffset]::UtcNow",
      "[Diagnostics.Stopwatch]::StartNew",
      "[Environment]::GetEnvironmentVariable",
      "[IO.MemoryStream]::new",
      "[Math]::Max",
      "[Math]::Min",
      "[Math]::Pow",
      "[Math]::Round",
      "[Net.Http.Headers.AuthenticationHeaderValue]::new",
      "[Net.Http.HttpClientHandler]::new",
      "[Net.Http.HttpClient]::new",
      "[Net.Http.HttpCompletionOption]::ResponseHeadersRead",
      "[Net.SecurityProtocolType]::Tls12",
      "[Net.ServicePointManager]::SecurityProtocol",
      "[Text.Encoding]::UTF8",
      "[Threading.CancellationTokenSource]::new",
      "[Threading.Timeout]::InfiniteTimeSpan",
      "[TimeSpan]::FromSeconds",
      "[Uri]::EscapeDataString",
      "[regex]::Replace",
      "[byte[]]::new",
      // Grants mode: System.Collections.Generic.List<T> (2.0+), XmlDocument.DocumentElement / XmlNode.SelectSingleNode /
      // XmlElement.GetAttribute / XmlNode.InnerText (1.1+), String.TrimStart(params char[]) (1.1+).
      "[Collections.Generic.List[object]]::new",
      // Instance members: HttpClient.GetAsync(string, HttpCompletionOption, CancellationToken) and
      // HttpContent.ReadAsStreamAsync() (4.5+), Stream.ReadAsync(byte[], int, int, CancellationToken) (4.5+),
      // Task.Wait(int), MemoryStream.GetBuffer()/Write, HttpHeaders.Contains/GetValues (4.5+),
      // Encoding.GetString(byte[], int, int), DateTimeOffset.ToUnixTimeSeconds() (4.6+), IDictionary.Contains;
      // properties HttpResponseHeaders.RetryAfter and .WwwAuthenticate (4.5+).
      ".Add(",
      ".Contains(",
      ".ContainsKey(",
      ".Dispose(",
      ".GetAsync(",
      ".GetAwaiter(",
      ".GetBuffer(",
      ".GetResult(",
      ".GetString(",
      ".GetType(",
      ".GetValues(",
      ".ReadAsStreamAsync(",
      ".ReadAsync(",
      ".Remove(",
      ".Replace(",
      ".Substring(",
      ".ToString(",
      ".ToUnixTimeSeconds(",
      ".TrimEnd(",
      ".Wait(",
      ".TrimStart(",
      ".SelectSingleNode(",
      ".GetAttribute(",
      ".Write(",
      ".WriteLine(",
    ]);
    // The grants variant is a superset of the tutorial's text, so checking it checks both.
    const code = minifyProbe(readFileSync(PROBE_SCRIPT_PATH, "utf8"), "grants").replace(/'[^']*'/g, "''");
    const used = new Set([...code.matchAll(/\[[\w.]+(?:\[(?:\w+)?\])?\]::\w+|\.\w+\(/g)].map((m) => m[0]));
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((u) => !NETFX48.has(u))).toEqual([]);
  });
});
