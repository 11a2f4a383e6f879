<#
.SYNOPSIS
Proves that this VM's system-assigned managed identity can read its resource group through Azure Resource Manager.

.DESCRIPTION
Gets an ARM access token from the Instance Metadata Service (IMDS), reads the resource group and the
identity's permissions on it, and writes one compact JSON report (identitylab.probe/v1, see
docs/probe-contract.md) as the last line of stdout. Role assignments take minutes to propagate, so
401/403 answers are retried with capped backoff until -DeadlineSeconds; throttling (Retry-After),
5xx answers, resets and timeouts are retried too. The access token is never written anywhere.

Runs unchanged under Windows PowerShell 5.1 (on the VM, through the Custom Script Extension) and
PowerShell 7 (in tests). It is embedded as a script block, so it must not depend on its own path.

.PARAMETER SubscriptionId
GUID of the subscription that holds the resource group.

.PARAMETER ResourceGroupName
The resource group to read.

.PARAMETER ArmEndpoint
The cloud's ARM endpoint; also the IMDS token's resource (trailing slash included).

.PARAMETER ImdsEndpoint
Base URL of IMDS. The environment variable IDENTITYLAB_IMDS_ENDPOINT overrides it (tests only).

.PARAMETER DeadlineSeconds
The whole probe ends, with a report, by then.

.PARAMETER RequestTimeoutSeconds
Timeout of every single HTTP request (never past the deadline).

.PARAMETER RetryBaseSeconds
First backoff; it doubles on each failure of the same request.

.PARAMETER RetryCapSeconds
Longest sleep between two attempts on one endpoint, unless the server asks for longer with Retry-After.

.EXAMPLE
.\Invoke-IdentityProbe.ps1 -SubscriptionId 00000000-0000-0000-0000-000000000000 -ResourceGroupName rg-identity-lab

.NOTES
IDENTITYLAB_ARM_URL (tests only) sends ARM requests elsewhere; the token's audience still comes from -ArmEndpoint.
IDENTITYLAB_DEADLINE_SECONDS (rehearsal only) lowers -DeadlineSeconds, never raises it.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$SubscriptionId,
    [Parameter(Mandatory)][string]$ResourceGroupName,
    [string]$ArmEndpoint = 'https://management.azure.com/',
    [string]$ImdsEndpoint = 'http://169.254.169.254',
    [double]$DeadlineSeconds = 900,
    [double]$RequestTimeoutSeconds = 20,
    [double]$RetryBaseSeconds = 1,
    [double]$RetryCapSeconds = 5
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$sw = [Diagnostics.Stopwatch]::StartNew()
# Windows PowerShell 5.1 needs the assembly loaded and TLS 1.2 switched on; in 7 both are no-ops.
Add-Type -AssemblyName System.Net.Http
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

# IMDS is link-local: a machine-wide proxy must never see the token request. Neither client follows redirects,
# so the bearer token can only go to the ARM endpoint it was sent to.
$h = [Net.Http.HttpClientHandler]::new()
$h.UseProxy = $h.AllowAutoRedirect = $false
$imds = [Net.Http.HttpClient]::new($h)
$imds.DefaultRequestHeaders.Add('Metadata', 'true')
$h = [Net.Http.HttpClientHandler]::new()
$h.AllowAutoRedirect = $false
$arm = [Net.Http.HttpClient]::new($h)
# Each request carries its own cancellation (timeout and deadline); HttpClient's 100 s default must not cut in.
$imds.Timeout = $arm.Timeout = [Threading.Timeout]::InfiniteTimeSpan

$v = [Environment]::GetEnvironmentVariable('IDENTITYLAB_IMDS_ENDPOINT')
if ($v) { $ImdsEndpoint = $v }
# The offline rehearsal compresses time; it may only shorten the deadline.
$v = [Environment]::GetEnvironmentVariable('IDENTITYLAB_DEADLINE_SECONDS')
if ($v -and [double]$v -lt $DeadlineSeconds) { $DeadlineSeconds = [double]$v }
$base = [Environment]::GetEnvironmentVariable('IDENTITYLAB_ARM_URL')
if (-not $base) { $base = $ArmEndpoint }
$base = $base.TrimEnd('/') + '/subscriptions/' + $SubscriptionId + '/resourceGroups/' + [Uri]::EscapeDataString($ResourceGroupName)

# PowerShell 7 turns date-like strings (a tag value, say) into DateTime; 5.1 keeps strings. Ask 7 to keep them too,
# by splatting so that 5.1 never sees the parameter.
$dk = @{}
if ((Get-Command ConvertFrom-Json).Parameters.ContainsKey('DateKind')) { $dk.DateKind = 'String' }

# Script-scope variables behave differently in a file and in an embedded script block: keep state in one hashtable.
$st = @{ tok = $null; exp = 0; id = $null; err = $null; att = [ordered]@{ imds = 0; resourceGroup = 0; permissions = 0 } }

function Get-Field($Object, [string]$Name) {
    # StrictMode throws on missing properties, and ARM omits empty ones (tags, for instance).
    if ($null -ne $Object -and $Object -isnot [string] -and $Object.PSObject.Properties[$Name]) { $Object.PSObject.Properties[$Name].Value }
}

function Get-Left { $DeadlineSeconds - $sw.Elapsed.TotalSeconds }

# Straight to stdout: under -EncodedCommand with redirected output, Write-Host lands on stderr as CLIXML.
function Write-Note([string]$Text) { [Console]::Out.WriteLine(('{0} t={1}' -f $Text, [Math]::Round($sw.Elapsed.TotalSeconds, 1))) }

function Invoke-Get([string]$Phase, [string]$Url) {
    $n = 0
    while ($true) {
        if ($Phase -eq 'imds') { $c = $imds } else {
            if (-not (Get-Token)) { return }
            $c = $arm
            $c.DefaultRequestHeaders.Authorization = [Net.Http.Headers.AuthenticationHeaderValue]::new('Bearer', $st.tok)
        }
        $n++
        $st.att[$Phase]++
        $s = $code = $msg = $rid = $null
        $ra = 0
        $left = Get-Left
        $cts = [Threading.CancellationTokenSource]::new([TimeSpan]::FromSeconds([Math]::Max(0.001, [Math]::Min($RequestTimeoutSeconds, $left))))
        try {
            $r = $c.GetAsync($Url, $cts.Token).GetAwaiter().GetResult()
            $s = [int]$r.StatusCode
            $b = $r.Content.ReadAsStringAsync().GetAwaiter().GetResult()
            if ($r.Headers.Contains('x-ms-request-id')) { $rid = @($r.Headers.GetValues('x-ms-request-id'))[0] }
            $x = $r.Headers.RetryAfter
            # PowerShell unwraps the Nullable<> properties: they are a TimeSpan / DateTimeOffset or $null.
            if ($x -and $x.Delta) { $ra = $x.Delta.TotalSeconds }
            elseif ($x -and $x.Date) { $ra = ($x.Date - [DateTimeOffset]::UtcNow).TotalSeconds }
            $o = $null
            # Parse errors are swallowed whole: their text could quote the body, and an IMDS body holds the token.
            try { $o = ConvertFrom-Json $b @dk } catch { }
            if ($s -eq 200 -and $null -ne $o) {
                Write-Note "$Phase 200 #$n"
                return $o
            }
            $e = Get-Field $o 'error'
            if ($e -is [string]) { $code = $e; $msg = Get-Field $o 'error_description' } else { $code = Get-Field $e 'code'; $msg = Get-Field $e 'message' }
            if ($s -eq 200) { $code = 'MalformedResponse'; $msg = 'response is not JSON' }
            if (-not $msg) { $msg = $r.ReasonPhrase }
        } catch {
            $code = 'ConnectionFailed'
            if ($cts.IsCancellationRequested) { $code = 'Timeout' }
            $x = $_.Exception
            while ($x.InnerException) { $x = $x.InnerException }
            $msg = $x.Message
        } finally { $cts.Dispose() }
        # A request cut short by the deadline tells nothing new: report what the endpoint last answered.
        if ($code -eq 'Timeout' -and $left -lt $RequestTimeoutSeconds -and $n -gt 1) { return }
        $msg = "$msg"
        if ($msg.Length -gt 300) { $msg = $msg.Substring(0, 300) }
        $st.err = [ordered]@{ phase = $Phase; status = $s; code = $code; message = $msg; requestId = $rid }
        Write-Note "$Phase $s $code #$n"
        # IMDS answers 404/410 while the identity is being set up; ARM answers 401/403 until the role assignment
        # has propagated. 400s and ResourceGroupNotFound will not change by waiting.
        $more = @(401, 403)
        if ($Phase -eq 'imds') { $more = @(404, 410) }
        if (-not ($null -eq $s -or $s -eq 200 -or $s -ge 500 -or $s -in (@(408, 429) + $more))) { return }
        # A fresh token costs one IMDS call and rules out an expired or revoked one.
        if ($s -eq 401) { $st.tok = $null }
        # Jitter only shortens the wait, so the cap still bounds how late a now-granted role is noticed.
        $w = [Math]::Min($RetryCapSeconds, $RetryBaseSeconds * [Math]::Pow(2, $n - 1)) * (Get-Random -Minimum 0.9 -Maximum 1.0)
        if ($ra -gt $w) { $w = $ra }
        if ($w -ge (Get-Left)) { return }
        Start-Sleep -Milliseconds ([int]($w * 1000))
    }
}

function Get-Token {
    # Refresh five minutes before expiry, so that no request leaves with a token that lapses on the way.
    if ($st.tok -and $st.exp - [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() -gt 300) { return $true }
    $o = Invoke-Get 'imds' ($ImdsEndpoint.TrimEnd('/') + '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=' + [Uri]::EscapeDataString($ArmEndpoint))
    if ($null -eq $o) { return $false }
    $st.tok = Get-Field $o 'access_token'
    $st.exp = [long](Get-Field $o 'expires_on')
    $cl = $null
    try {
        $p = $st.tok.Split('.')[1].Replace('-', '+').Replace('_', '/')
        $p += '=' * ((4 - $p.Length % 4) % 4)
        $cl = ConvertFrom-Json ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($p))) @dk
    } catch { }
    $e = Get-Field $cl 'exp'
    if ($e) { $st.exp = [long]$e }
    $st.id = [ordered]@{
        objectId   = Get-Field $cl 'oid'
        tenantId   = Get-Field $cl 'tid'
        resourceId = Get-Field $cl 'xms_mirid'
        audience   = Get-Field $cl 'aud'
        expiresOn  = [DateTimeOffset]::FromUnixTimeSeconds($st.exp).UtcDateTime.ToString('s') + 'Z'
    }
    $true
}

function ConvertTo-ReportJson($Report) {
    # Pure ASCII: the extension's stdout passes through the console code page, which would mangle the rest.
    [regex]::Replace((ConvertTo-Json $Report -Depth 9 -Compress), '[^\x20-\x7e]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })
}

$rg = $perm = $null
$g = Invoke-Get 'resourceGroup' ($base + '?api-version=2022-09-01')
if ($null -ne $g) {
    $t = [ordered]@{}
    $tg = Get-Field $g 'tags'
    if ($tg) { foreach ($p in $tg.PSObject.Properties) { $t[$p.Name] = $p.Value } }
    $rg = [ordered]@{ id = Get-Field $g 'id'; name = Get-Field $g 'name'; location = Get-Field $g 'location'; provisioningState = Get-Field (Get-Field $g 'properties') 'provisioningState'; tags = $t }
    $q = Invoke-Get 'permissions' ($base + '/providers/Microsoft.Authorization/permissions?api-version=2022-04-01')
    if ($null -ne $q) {
        $perm = @(foreach ($p in @(Get-Field $q 'value')) {
                [ordered]@{ actions = @(Get-Field $p 'actions'); notActions = @(Get-Field $p 'notActions'); dataActions = @(Get-Field $p 'dataActions'); notDataActions = @(Get-Field $p 'notDataActions') }
            })
        $st.err = $null
    }
}
$rep = [ordered]@{
    schema         = 'identitylab.probe/v1'
    ok             = $null -ne $perm
    resourceGroup  = $rg
    identity       = $st.id
    permissions    = $perm
    attempts       = $st.att
    elapsedSeconds = [Math]::Round($sw.Elapsed.TotalSeconds, 1)
    trimmed        = @()
    error          = $st.err
}
# The extension keeps only the tail of stdout: the report must fit, whatever the tags.
$j = ConvertTo-ReportJson $rep
while ($j.Length -ge 3500 -and $rg -and $rg.tags.Count) {
    $k = $rg.tags.Keys | Sort-Object { "$_$($rg.tags[$_])".Length } | Select-Object -Last 1
    $rg.tags.Remove([string]$k)
    $rep.trimmed = @('resourceGroup.tags')
    $j = ConvertTo-ReportJson $rep
}
# Indexing, not Select-Object: 5.1's ConvertTo-Json can serialize pipeline-wrapped objects with their ETS members.
while ($j.Length -ge 3500 -and $perm) {
    $perm = $rep.permissions = @(if ($perm.Length -gt 1) { $perm[0..($perm.Length - 2)] })
    if ($rep.trimmed -notcontains 'permissions') { $rep.trimmed += 'permissions' }
    $j = ConvertTo-ReportJson $rep
}
$j
