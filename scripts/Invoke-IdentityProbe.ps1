<#
.SYNOPSIS
Proves that this VM's system-assigned managed identity can read its resource group through Azure Resource Manager.

.DESCRIPTION
Gets an ARM access token from the Instance Metadata Service (IMDS), reads the resource group and the
identity's permissions on it, and writes one compact JSON report (identitylab.probe/v1, see
probe/contract.md) as the last line of stdout. Success needs evidence: the group ARM returns must be the
one asked for, and the permissions must be a well-formed list. Role assignments take minutes to
propagate, so 401/403 answers, and throttling with Retry-After, are retried with capped backoff until
-DeadlineSeconds; other faults (5xx, resets, timeouts, unreadable bodies) are retried for at most
-FaultBudgetSeconds. Bodies are read with a size cap and a clock. The access token is never written anywhere.

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

.PARAMETER Grants
Grants mode (probe/contract.md "Grants mode"): a compact JSON array of grants to prove, each
{"n":key,"s":scope id,"u":client_id or "","k":"arm"|"blob","v":api-version,"b":container URL or ""}. The resource
group read of tutorial mode is skipped; the report gains one "grants" entry per grant.

.PARAMETER FaultBudgetSeconds
How long a fault other than RBAC propagation or announced throttling (5xx, resets, timeouts, unreadable bodies) is
retried before the probe reports it.

.EXAMPLE
.\Invoke-IdentityProbe.ps1 -SubscriptionId 00000000-0000-0000-0000-000000000000 -ResourceGroupName rg-identity-lab

.NOTES
IDENTITYLAB_ARM_URL (tests only) sends ARM requests elsewhere; the token's audience still comes from -ArmEndpoint.
IDENTITYLAB_DEADLINE_SECONDS (rehearsal only) lowers -DeadlineSeconds, never raises it.
IDENTITYLAB_BLOB_URL (rehearsal only) sends List Blobs for https://<account>.blob.<suffix>/<container> to <url>/<account>/<container>.
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
    [double]$RetryCapSeconds = 5,
    #region grants
    [string]$Grants = '',
    #endregion
    [double]$FaultBudgetSeconds = 120
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
$want = '/subscriptions/' + $SubscriptionId + '/resourceGroups/' + $ResourceGroupName
$base = $base.TrimEnd('/') + '/subscriptions/' + $SubscriptionId + '/resourceGroups/' + [Uri]::EscapeDataString($ResourceGroupName)

# PowerShell 7 turns date-like strings (a tag value, say) into DateTime; 5.1 keeps strings. Ask 7 to keep them too,
# by splatting so that 5.1 never sees the parameter. Hashtables, because a body may hold keys that differ only in
# case (Azure's tag names are case-insensitive): 7 reads them that way, 5.1 cannot read them at all.
$dk = @{}
$v = (Get-Command ConvertFrom-Json).Parameters
if ($v.ContainsKey('DateKind')) { $dk.DateKind = 'String' }
if ($v.ContainsKey('AsHashtable')) { $dk.AsHashtable = $true }

# Script-scope variables behave differently in a file and in an embedded script block: keep state in one hashtable.
$st = @{ tok = $null; exp = 0; cl = $null; id = $null; err = $null; ph = 'imds'; att = [ordered]@{ imds = 0; resourceGroup = 0; permissions = 0 } }

$nm = 'actions', 'notActions', 'dataActions', 'notDataActions'

function Test-Obj($O) { $O -is [Collections.IDictionary] -or $O -is [Management.Automation.PSCustomObject] }

function Get-Field($O, [string]$N) {
    # StrictMode throws on missing properties, and ARM omits empty ones. The comma keeps an array an array.
    if ($O -is [Collections.IDictionary]) { if ($O.Contains($N)) { , $O[$N] } }
    elseif ($O -is [Management.Automation.PSCustomObject] -and $O.PSObject.Properties[$N]) { , $O.PSObject.Properties[$N].Value }
}

function Get-Str($O, [string]$N) {
    $v = Get-Field $O $N
    if ($v -is [string]) { $v }
}

# A list of strings (absent counts as empty), or nothing when the field holds anything else.
function Get-List($O, [string]$N) {
    $v = Get-Field $O $N
    if ($null -eq $v) { $v = @() }
    if ($v -isnot [array]) { return }
    foreach ($x in $v) { if ($x -isnot [string]) { return } }
    , $v
}

# Seconds since the epoch, or nothing when the value is not one DateTimeOffset can hold.
# PowerShell's conversions are culture-invariant; "True", arrays and objects convert to nothing.
function Get-Epoch($V) {
    $d = "$V" -as [double]
    if ($d -gt 0 -and $d -lt 253402300800) { [long]$d }
}

# Whatever the probe echoes is cut, kept to one line, and loses anything shaped like a token (a JWS, or the start
# of one): an error message may quote the request. Cut first, so the pattern never scans a whole body.
function Get-Safe($T, [int]$Max = 300) {
    if ($null -eq $T) { return }
    $T = "$T"
    if ($T.Length -gt 2 * $Max) { $T = $T.Substring(0, 2 * $Max) }
    $T = $T -replace '[\x00-\x1f\x7f]', ' ' -creplace 'eyJ[\w.-]*|[\w-]{16,}\.[\w-]{16,}\.[\w-]{16,}', '[redacted]'
    if ($T.Length -gt $Max) { $T = $T.Substring(0, $Max) }
    $T
}

function Get-Left { $DeadlineSeconds - $sw.Elapsed.TotalSeconds }

# Straight to stdout: under -EncodedCommand with redirected output, Write-Host lands on stderr as CLIXML.
function Write-Note([string]$Text) { [Console]::Out.WriteLine(('{0} t={1}' -f $Text, [Math]::Round($sw.Elapsed.TotalSeconds, 1))) }

# A 200 is evidence only when it answers the question asked; returns a code and a message when it does not.
function Test-Answer([string]$P, $O) {
    #region grants
    if ($P -in 'read', 'data', 'ra', 'rd') { return Test-Grant $P $O }
    #endregion
    if ($P -eq 'imds') {
        $t = Get-Str $O 'access_token'
        if (-not $t) { return 'NoAccessToken', 'no access_token' }
        $c = $null
        if ($t -match '^[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*$') {
            try {
                $y = $Matches[1].Replace('-', '+').Replace('_', '/')
                $y += '=' * ((4 - $y.Length % 4) % 4)
                $c = ConvertFrom-Json ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($y))) @dk
            } catch { }
        }
        if (-not (Test-Obj $c)) { return 'OpaqueToken', 'the token is not a JWT' }
        $e = Get-Field $c 'exp'
        if ($e -is [string]) { $e = $null }
        $e = Get-Epoch $e
        if (-not $e) { $e = Get-Epoch (Get-Field $O 'expires_on') }
        if (-not $e) { return 'UnexpectedResponse', 'the token has no valid expiry' }
        $st.tok = $t
        $st.exp = $e
        $st.cl = $c
        return
    }
    if ($P -eq 'resourceGroup') {
        $i = Get-Str $O 'id'
        if ($i -ne $want) { return 'UnexpectedResponse', "got id '$i'" }
        if ((Get-Str $O 'name') -ne $ResourceGroupName -or -not (Get-Str (Get-Field $O 'properties') 'provisioningState')) { return 'UnexpectedResponse', 'bad name or provisioningState' }
        return
    }
    $v = Get-Field $O 'value'
    if ($v -isnot [array]) { return 'UnexpectedResponse', 'no value list' }
    foreach ($y in $v) {
        if ($null -eq (Get-Field $y 'actions')) { return 'UnexpectedResponse', 'entry without actions' }
        foreach ($n in $nm) {
            if ($null -eq (Get-List $y $n)) { return 'UnexpectedResponse', "bad $n" }
        }
    }
}

function Invoke-Get([string]$Phase, [string]$Url) {
    $n = 0
    $f0 = $null
    $max = 1MB
    while ($true) {
        if ($Phase -eq 'imds') { $c = $imds; $max = 64KB } else {
            if (-not (Get-Token)) { return }
            $c = $arm
            $c.DefaultRequestHeaders.Authorization = [Net.Http.Headers.AuthenticationHeaderValue]::new('Bearer', $st.tok)
        }
        $st.ph = $Phase
        $n++
        $st.att[$Phase]++
        $s = $code = $msg = $rid = $r = $null
        $ra = 0
        $t0 = $sw.Elapsed.TotalSeconds
        $left = Get-Left
        $to = [Math]::Max(0.001, [Math]::Min($RequestTimeoutSeconds, $left))
        $cts = [Threading.CancellationTokenSource]::new([TimeSpan]::FromSeconds($to))
        $ms = [IO.MemoryStream]::new()
        try {
            $r = $c.GetAsync($Url, [Net.Http.HttpCompletionOption]::ResponseHeadersRead, $cts.Token).GetAwaiter().GetResult()
            $s = [int]$r.StatusCode
            if ($Phase -ne 'imds' -and $r.Headers.Contains('x-ms-request-id')) { $rid = @($r.Headers.GetValues('x-ms-request-id'))[0] }
            $wa = "$($r.Headers.WwwAuthenticate)"
            $x = $r.Headers.RetryAfter
            # PowerShell unwraps the Nullable<> properties: they are a TimeSpan / DateTimeOffset or $null.
            if ($x -and $x.Delta) { $ra = $x.Delta.TotalSeconds }
            elseif ($x -and $x.Date) { $ra = ($x.Date - [DateTimeOffset]::UtcNow).TotalSeconds }
            # Read in pieces, with a cap and a clock: an endless or trickling body must neither fill memory nor
            # outlast the request's time. Task.Wait, because 5.1's network stream may ignore the cancellation.
            $in = $r.Content.ReadAsStreamAsync().GetAwaiter().GetResult()
            $buf = [byte[]]::new(64KB)
            do {
                $k = $in.ReadAsync($buf, 0, 64KB, $cts.Token)
                if (-not $k.Wait([int][Math]::Max(1, ($t0 + $to - $sw.Elapsed.TotalSeconds) * 1000))) { throw 'slow' }
                $ms.Write($buf, 0, $k.Result)
                if ($ms.Length -gt $max) { $code = 'ResponseTooLarge'; $msg = "over $max bytes" }
            } while ($k.Result -and -not $code)
        } catch {
            $code = 'ConnectionFailed'
            $slow = $cts.IsCancellationRequested -or "$_" -eq 'slow'
            if ($cts.IsCancellationRequested) { $code = 'Timeout' }
            $x = $_.Exception
            while ($x.InnerException) { $x = $x.InnerException }
            $msg = $x.Message
            # Headers came but the time ran out on the body; a body the connection cut short stays ConnectionFailed.
            if ($s -and $slow) { $code = 'SlowResponse'; $msg = "body not read in $to s" }
        } finally {
            $cts.Dispose()
            if ($r) { $r.Dispose() }
        }
        if (-not $code) {
            $o = $null
            # Parse errors are swallowed whole: their text could quote the body, and an IMDS body holds the token.
            try { $o = ConvertFrom-Json ([Text.Encoding]::UTF8.GetString($ms.GetBuffer(), 0, [int]$ms.Length)) @dk } catch { }
            #region grants
            if ($Phase -eq 'data') { $o = ConvertFrom-BlobXml ([Text.Encoding]::UTF8.GetString($ms.GetBuffer(), 0, [int]$ms.Length)) }
            #endregion
            if ($s -eq 200) {
                if ($null -eq $o) { $code = 'MalformedResponse'; $msg = 'not JSON (or keys differing only in case)' }
                else {
                    $code, $msg = Test-Answer $Phase $o
                    if (-not $code) {
                        Write-Note "$Phase 200 #$n"
                        return $o
                    }
                }
            } else {
                $e = Get-Field $o 'error'
                if ($e -is [string]) { $code = $e; $msg = Get-Field $o 'error_description' } else { $code = Get-Field $e 'code'; $msg = Get-Field $e 'message' }
                # Continuous access evaluation asks for a token with more claims; IMDS cannot mint one, so waiting is futile.
                if ($wa -match 'insufficient_claims') { $code = 'ClaimsChallenge' }
                if (-not $msg) { $msg = $r.ReasonPhrase }
            }
        }
        # A request cut short by the deadline tells nothing new: report what the endpoint last answered.
        if ($code -eq 'Timeout' -and $left -lt $RequestTimeoutSeconds -and $n -gt 1) { return }
        $code = Get-Safe $code 80
        $st.err = [ordered]@{ phase = $Phase; status = $s; code = $code; message = "$(Get-Safe $msg)"; requestId = (Get-Safe $rid 80) }
        Write-Note "$Phase $s $code #$n"
        # Waiting fixes two things: a role assignment that has not propagated yet (ARM's 401/403) and throttling
        # that says when it ends (Retry-After); they get the whole deadline. Other faults that might pass (5xx,
        # resets, timeouts, unreadable bodies, IMDS's 404/410 while the identity is set up) get FaultBudgetSeconds.
        # A readable 200 that answers something else, a 400 or ResourceGroupNotFound will not change by waiting.
        $pat = ($Phase -ne 'imds' -and $s -in 401, 403 -and $code -ne 'ClaimsChallenge') -or ($s -eq 429 -and $ra -gt 0)
        if (-not ($pat -or $code -in 'MalformedResponse', 'SlowResponse', 'Timeout', 'ConnectionFailed' -or $s -ge 500 -or $s -in 408, 429 -or ($Phase -eq 'imds' -and $s -in 404, 410))) { return }
        if ($pat) { $f0 = $null } elseif ($null -eq $f0) { $f0 = $t0 }
        # A fresh token costs one IMDS call and rules out an expired or revoked one.
        if ($s -eq 401) { $st.tok = $null }
        # Jitter only shortens the wait, so the cap still bounds how late a now-granted role is noticed.
        $w = [Math]::Min($RetryCapSeconds, $RetryBaseSeconds * [Math]::Pow(2, $n - 1)) * (Get-Random -Minimum 0.9 -Maximum 1.0)
        if ($ra -gt $w) { $w = $ra }
        if ($w -ge (Get-Left) -or ($null -ne $f0 -and $sw.Elapsed.TotalSeconds + $w - $f0 -ge $FaultBudgetSeconds)) { return }
        Start-Sleep -Milliseconds ([int]($w * 1000))
    }
}

function Get-Token {
    # Refresh five minutes before expiry, so that no request leaves with a token that lapses on the way.
    if ($st.tok -and $st.exp - [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() -gt 300) { return $true }
    $st.tok = $null
    if ($null -eq (Invoke-Get 'imds' ($ImdsEndpoint.TrimEnd('/') + '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=' + [Uri]::EscapeDataString($ArmEndpoint)))) { return $false }
    $c = $st.cl
    $st.id = [ordered]@{
        objectId = Get-Safe (Get-Str $c 'oid')
        tenantId = Get-Safe (Get-Str $c 'tid')
        resourceId = Get-Safe (Get-Str $c 'xms_mirid')
        audience = Get-Safe (Get-Str $c 'aud')
        expiresOn = [DateTimeOffset]::FromUnixTimeSeconds($st.exp).UtcDateTime.ToString('s') + 'Z'
    }
    $true
}

#region grants
# Azure Storage answers in XML: <EnumerationResults ContainerName=...> or <Error><Code/><Message/></Error>.
function ConvertFrom-BlobXml([string]$T) {
    try { $x = [xml]$T.TrimStart([char]0xFEFF) } catch { return }
    $e = $x.DocumentElement
    if (-not $e) { return }
    if ($e.LocalName -eq 'EnumerationResults') { return @{ container = $e.GetAttribute('ContainerName') } }
    if ($e.LocalName -eq 'Error') {
        $c = $e.SelectSingleNode('Code')
        $m = $e.SelectSingleNode('Message')
        return @{ error = @{ code = $(if ($c) { $c.InnerText }); message = $(if ($m) { $m.InnerText }) } }
    }
}

function Test-Grant([string]$P, $O) {
    if ($P -eq 'read') { if ((Get-Str $O 'id') -ne $st.s) { return 'UnexpectedResponse', "got id '$(Get-Str $O 'id')'" }; return }
    if ($P -eq 'data') { if (-not (Get-Str $O 'container')) { return 'UnexpectedResponse', 'not a blob list' }; return }
    if ($P -eq 'ra') {
        $v = Get-Field $O 'value'
        if ($v -isnot [array]) { return 'UnexpectedResponse', 'no value list' }
        foreach ($y in $v) { $q = Get-Field $y 'properties'; if (-not (Get-Str $q 'roleDefinitionId') -or -not (Get-Str $q 'scope')) { return 'UnexpectedResponse', 'bad role assignment' } }
        return
    }
    $v = Get-Field (Get-Field $O 'properties') 'permissions'
    if ($v -isnot [array]) { return 'UnexpectedResponse', 'no permissions' }
    foreach ($y in $v) { foreach ($n in $nm) { if ($null -eq (Get-List $y $n)) { return 'UnexpectedResponse', "bad $n" } } }
}

# Permission blocks as compact 4-tuples [actions, notActions, dataActions, notDataActions]; lists, so trimming can edit them.
function ConvertTo-Tuple($B) {
    $l = [Collections.Generic.List[object]]::new()
    foreach ($p in $B) {
        $t = [Collections.Generic.List[object]]::new()
        foreach ($n in $nm) { $a = Get-List $p $n; if ($null -eq $a) { $a = @() }; $t.Add($a) }
        $l.Add($t)
    }
    , $l
}

if ($Grants) {
    # One token at a time, for the grant's identity (client_id, '' = the VM's default) and audience.
    function Get-Token {
        $k = "$($st.u)|$($st.aud)"
        if ($st.tok -and $st.key -eq $k -and $st.exp - [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() -gt 300) { return $true }
        $st.tok = $null
        $st.key = $k
        $q = '&resource=' + [Uri]::EscapeDataString($st.aud)
        if ($st.u) { $q += '&client_id=' + [Uri]::EscapeDataString($st.u) }
        if ($st.aud -eq $ArmEndpoint) { $st.oid = $null }
        if ($null -eq (Invoke-Get 'imds' ($ImdsEndpoint.TrimEnd('/') + '/metadata/identity/oauth2/token?api-version=2018-02-01' + $q))) { $st.key = $null; return $false }
        $c = $st.cl
        if ($st.aud -eq $ArmEndpoint) {
            $st.oid = Get-Safe (Get-Str $c 'oid') 80
            if (-not $st.id) {
                $st.id = [ordered]@{
                    objectId = $st.oid
                    tenantId = Get-Safe (Get-Str $c 'tid')
                    resourceId = Get-Safe (Get-Str $c 'xms_mirid')
                    audience = Get-Safe (Get-Str $c 'aud')
                    expiresOn = [DateTimeOffset]::FromUnixTimeSeconds($st.exp).UtcDateTime.ToString('s') + 'Z'
                }
            }
        }
        $true
    }
}
#endregion

function ConvertTo-ReportJson($Report) {
    # Pure ASCII: the extension's stdout passes through the console code page, which would mangle the rest.
    [regex]::Replace((ConvertTo-Json $Report -Depth 9 -Compress), '[^\x20-\x7e]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })
}

#region grants
if ($Grants) {
    $gr = [Collections.Generic.List[object]]::new()
    $tot = [ordered]@{ imds = 0; resourceGroup = 0; permissions = 0 }
    $fe = $null
    $ab = [Environment]::GetEnvironmentVariable('IDENTITYLAB_ARM_URL')
    if (-not $ab) { $ab = $ArmEndpoint }
    $ab = $ab.TrimEnd('/')
    $gs = $null
    try { $gs = @(ConvertFrom-Json $Grants @dk | ForEach-Object { $_ }) } catch { }
    foreach ($x in @($gs)) { foreach ($f in 'n', 's', 'u', 'k', 'v', 'b') { if ($null -eq (Get-Str $x $f)) { $gs = $null } } }
    if (-not $gs) { $gs = @(); $fe = [ordered]@{ phase = 'grants'; status = $null; code = 'InvalidGrants'; message = 'the -Grants JSON is not a list of grant specs'; requestId = $null } }
    try {
        foreach ($x in @($gs)) {
            $st.att = [ordered]@{ imds = 0; read = 0; permissions = 0; ra = 0; rd = 0; data = 0 }
            $st.err = $null
            $st.u = Get-Str $x 'u'
            $st.s = Get-Str $x 's'
            $st.aud = $ArmEndpoint
            $e = [ordered]@{ n = Get-Safe (Get-Str $x 'n') 40; oid = $null; read = $null; data = $null; perm = $null; cause = $null; att = 0 }
            if ((Get-Left) -le 0) { $e.cause = 'NotReached' } else {
                # A data role grants no read of the account itself, only of its containers: a blob grant reads its container.
                $rt = $st.s
                if ((Get-Str $x 'k') -eq 'blob' -and $rt -notmatch '/containers/[^/]+$') { $rt += '/blobServices/default/containers/' + ((Get-Str $x 'b').TrimEnd('/') -split '/')[-1] }
                $st.s = $rt
                $r = Invoke-Get 'read' ($ab + $rt + '?api-version=' + [Uri]::EscapeDataString((Get-Str $x 'v')))
                $st.s = Get-Str $x 's'
                if ($st.key -eq "$($st.u)|$ArmEndpoint") { $e.oid = $st.oid }
                if ($null -eq $r) { if ($st.err -and $st.err.phase -eq 'read') { $e.read = $st.err.status } } else {
                    $e.read = 200
                    if ($st.s -match '^/subscriptions/[^/]+$') {
                        # No permissions operation exists at subscription scope: the identity's role assignments that
                        # cover the subscription (at it, or above it), and each one's role definition.
                        $q = Invoke-Get 'ra' ($ab + $st.s + '/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&%24filter=' + [Uri]::EscapeDataString("assignedTo('$($e.oid)')"))
                        if ($null -ne $q) {
                            $bl = [Collections.Generic.List[object]]::new()
                            $seen = @{}
                            foreach ($y in (Get-Field $q 'value')) {
                                $p = Get-Field $y 'properties'
                                $sc = Get-Str $p 'scope'
                                $d = Get-Str $p 'roleDefinitionId'
                                if (-not ($sc -eq '/' -or $sc -eq $st.s -or $sc -like '/providers/Microsoft.Management/managementGroups/*') -or $seen.ContainsKey($d)) { continue }
                                $seen[$d] = 1
                                $w = Invoke-Get 'rd' ($ab + $d + '?api-version=2022-04-01')
                                if ($null -eq $w) { $bl = $null; break }
                                foreach ($z in (Get-Field (Get-Field $w 'properties') 'permissions')) { $bl.Add($z) }
                            }
                            if ($null -ne $bl) { $e.perm = ConvertTo-Tuple $bl }
                        }
                    } else {
                        $q = Invoke-Get 'permissions' ($ab + $st.s + '/providers/Microsoft.Authorization/permissions?api-version=2022-04-01')
                        if ($null -ne $q) { $e.perm = ConvertTo-Tuple (Get-Field $q 'value') }
                    }
                    if ((Get-Str $x 'k') -eq 'blob') {
                        $st.aud = 'https://storage.azure.com/'
                        $arm.DefaultRequestHeaders.Add('x-ms-version', '2021-08-06')
                        $bu = (Get-Str $x 'b').TrimEnd('/')
                        $bt = [Environment]::GetEnvironmentVariable('IDENTITYLAB_BLOB_URL')
                        if ($bt -and $bu -match '^https://([^./]+)\.blob\.[^/]+/(.+)$') { $bu = $bt.TrimEnd('/') + '/' + $Matches[1] + '/' + $Matches[2] }
                        try {
                            $d = Invoke-Get 'data' ($bu + '?restype=container&comp=list&maxresults=1')
                        } finally { [void]$arm.DefaultRequestHeaders.Remove('x-ms-version') }
                        if ($null -ne $d) { $e.data = 200 } elseif ($st.err -and $st.err.phase -eq 'data') { $e.data = $st.err.status }
                    }
                }
                $ev = $e.read -eq 200 -and $null -ne $e.perm -and ((Get-Str $x 'k') -ne 'blob' -or $e.data -eq 200)
                if (-not $ev) {
                    $e.cause = 'ProbeError'
                    if ($st.err) { $e.cause = $st.err.code; if (-not $fe) { $fe = $st.err } }
                }
            }
            foreach ($k in @($st.att.Keys)) { $e.att += $st.att[$k] }
            $tot.imds += $st.att.imds
            $tot.permissions += $st.att.permissions
            if ($e.cause -and -not $fe) { $fe = [ordered]@{ phase = 'grants'; status = $null; code = $e.cause; message = 'grant ' + $e.n; requestId = $null } }
            $gr.Add($e)
        }
    } catch {
        $fe = [ordered]@{ phase = $st.ph; status = $null; code = 'ProbeError'; message = "$($_.Exception.GetType().Name)"; requestId = $null }
    }
    $rep = [ordered]@{
        schema = 'identitylab.probe/v1'
        ok = $null -eq $fe -and $gr.Count -gt 0
        resourceGroup = $null
        identity = $st.id
        permissions = $null
        attempts = $tot
        elapsedSeconds = [Math]::Round($sw.Elapsed.TotalSeconds, 1)
        trimmed = @()
        error = $fe
        grants = $gr
    }
    # Trimming: first error.message to 100 characters; then, while the report is too long, the longest permission
    # list (most entries, first in grant order) loses its last entry; "grants[i].perm" names each grant so cut.
    $j = ConvertTo-ReportJson $rep
    # ARM's prose goes first (the cause code stays whole); 100 characters keep what it names.
    if ($j.Length -ge 3500 -and $fe -and "$($fe.message)".Length -gt 100) {
        $fe.message = "$($fe.message)".Substring(0, 100)
        $rep.trimmed += 'error.message'
        $j = ConvertTo-ReportJson $rep
    }
    while ($j.Length -ge 3500) {
        $bi = $bt = $bk = -1
        $bn = 0
        for ($i = 0; $i -lt $gr.Count; $i++) {
            $pm = $gr[$i].perm
            if ($null -eq $pm) { continue }
            for ($t = 0; $t -lt $pm.Count; $t++) { for ($k = 0; $k -lt 4; $k++) { if ($pm[$t][$k].Length -gt $bn) { $bn = $pm[$t][$k].Length; $bi = $i; $bt = $t; $bk = $k } } }
        }
        if ($bi -lt 0) { break }
        $a = $gr[$bi].perm[$bt][$bk]
        $gr[$bi].perm[$bt][$bk] = @(if ($a.Length -gt 1) { $a[0..($a.Length - 2)] })
        $k = "grants[$bi].perm"
        if ($rep.trimmed -notcontains $k) { $rep.trimmed += $k }
        $j = ConvertTo-ReportJson $rep
    }
    $j
    return
}
#endregion
$rg = $perm = $null
# Whatever an answer holds, the probe ends with its report: an unforeseen error becomes one too.
try {
    $g = Invoke-Get 'resourceGroup' ($base + '?api-version=2022-09-01')
    if ($null -ne $g) {
        $t = [ordered]@{}
        $v = Get-Field $g 'tags'
        if ($v -is [Collections.IDictionary]) { $k = @($v.Keys) } else { $k = @(if (Test-Obj $v) { $v.PSObject.Properties.Name }) }
        # [ordered] is case-insensitive: tag names that differ only in case become one (the last value), as Azure treats them.
        foreach ($p in $k) { $x = Get-Field $v $p; if ($x -is [string]) { $t[[string]$p] = $x } }
        $rg = [ordered]@{ id = Get-Str $g 'id'; name = Get-Str $g 'name'; location = Get-Str $g 'location'; provisioningState = Get-Str (Get-Field $g 'properties') 'provisioningState'; tags = $t }
        $q = Invoke-Get 'permissions' ($base + '/providers/Microsoft.Authorization/permissions?api-version=2022-04-01')
        if ($null -ne $q) {
            $perm = @(foreach ($p in (Get-Field $q 'value')) {
                    $e = [ordered]@{}
                    foreach ($n in $nm) { $e[$n] = Get-List $p $n }
                    $e
                })
            $st.err = $null
        }
    }
} catch {
    $perm = $null
    $st.err = [ordered]@{ phase = $st.ph; status = $null; code = 'ProbeError'; message = "$($_.Exception.GetType().Name)"; requestId = $null }
}
$rep = [ordered]@{
    schema = 'identitylab.probe/v1'
    ok = $null -ne $perm
    resourceGroup = $rg
    identity = $st.id
    permissions = $perm
    attempts = $st.att
    elapsedSeconds = [Math]::Round($sw.Elapsed.TotalSeconds, 1)
    trimmed = @()
    error = $st.err
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
