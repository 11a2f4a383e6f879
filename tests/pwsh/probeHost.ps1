<#
.SYNOPSIS
A long-lived PowerShell that runs one command per stdin line, each in a fresh runspace, the way
`pwsh -NoProfile -NonInteractive -Command <text>` (or `-File`) would run it in a new process.

.DESCRIPTION
Used by tests/pwsh/probeHost.ts so that probe runs do not pay pwsh's start-up each. Each line is
JSON: {"command": "<PowerShell text>", "env": {"NAME": "value"}}. The variables are set for that
run only and removed afterwards. The runspace shares this process's console host, and its output
and errors go through Out-Default, as the console host does with a -Command: output, warnings and
Write-Host on stdout, errors on stderr, in the console's format. After each run, stdout gets
"`n<marker> <exit code>`n" and stderr "`n<marker>`n". A run that calls `exit` ends this process
with that code, as it would end its own process.

.PARAMETER Marker
The end-of-run line, unique to this host so that no probe output can forge it.
#>
param([Parameter(Mandatory)][string]$Marker)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
$okName = 'IdentityLabHostLastOk'
while ($null -ne ($line = [Console]::In.ReadLine())) {
    $req = ConvertFrom-Json $line
    $names = @(foreach ($p in $req.env.PSObject.Properties) { [Environment]::SetEnvironmentVariable($p.Name, [string]$p.Value); $p.Name })
    $rs = [runspacefactory]::CreateRunspace($Host, $iss)
    $rs.Open()
    $ps = [PowerShell]::Create()
    $ps.Runspace = $rs
    # What the console host reads after a -Command: whether its last statement succeeded.
    [void]$ps.AddScript($req.command + "`n`$global:$okName = `$?")
    $ps.Commands.Commands[0].MergeMyResults('Error', 'Output')
    [void]$ps.AddCommand('Out-Default')
    $code = 0
    $exited = $false
    try {
        [void]$ps.Invoke()
        $ok = $rs.SessionStateProxy.GetVariable($okName)
        # Neither an error nor the last statement's status: the command called `exit`.
        if ($null -eq $ok) { $exited = $true } elseif (-not $ok) { $code = 1 }
    } catch {
        # A terminating error: printed on stderr the way the console host prints it, and exit code 1.
        $code = 1
        $e = $_.Exception.InnerException
        $record = if ($e -is [Management.Automation.IContainsErrorRecord]) { $e.ErrorRecord } else { $_ }
        $er = [PowerShell]::Create()
        $er.Runspace = $rs
        [void]$er.AddScript('[CmdletBinding()] param($R) $ErrorActionPreference = ''Continue''; $PSCmdlet.WriteError($R)').AddArgument($record)
        $er.Commands.Commands[0].MergeMyResults('Error', 'Output')
        [void]$er.AddCommand('Out-Default')
        [void]$er.Invoke()
        $er.Dispose()
    }
    $ps.Dispose()
    $rs.Dispose()
    foreach ($n in $names) { [Environment]::SetEnvironmentVariable($n, $null) }
    # The host's exit code is the one `exit` asked for.
    if ($exited) { break }
    [Console]::Out.Write("`n$Marker $code`n")
    [Console]::Out.Flush()
    [Console]::Error.Write("`n$Marker`n")
    [Console]::Error.Flush()
}
