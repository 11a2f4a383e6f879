<#
.SYNOPSIS
A long-lived PowerShell that runs one command per stdin line, each in a fresh runspace, the way
`pwsh -NoProfile -NonInteractive -Command <text>` (or `-File`) would run it in a new process.

.DESCRIPTION
Used by offline/pwshHost.ts so that probe runs do not pay pwsh's start-up each. Each line is
JSON: {"command": "<PowerShell text>", "env": {"NAME": "value"}}. The variables are set for that
run only and removed afterwards. The runspace shares this process's console host, and its output
and errors go through Out-Default, as the console host does with a -Command: output, warnings and
Write-Host on stdout, errors on stderr, in the console's format. After each run, stdout gets
"`n<marker> <exit code>`n" and stderr "`n<marker>`n". A run that calls `exit` ends with that code,
as its own process would; the console host only records the code (it would exit once this script
ends), so this host reads it there and carries on. Where that record cannot be read, the run's
`exit` ends this process with that code instead, and the pool starts another host.

.PARAMETER Marker
The end-of-run line, unique to this host so that no probe output can forge it.
#>
param([Parameter(Mandatory)][string]$Marker)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
$okName = 'IdentityLabHostLastOk'
# ConsoleHost.SetShouldExit, which `exit` calls, stores the code in these fields (PowerShell 7's
# src/Microsoft.PowerShell.ConsoleHost/host/msh/ConsoleHost.cs); read by reflection, as nothing public has it.
$bf = [Reflection.BindingFlags]'NonPublic,Instance'
$console = $null
try {
    $ref = $Host.GetType().GetField('_externalHostRef', $bf).GetValue($Host)
    $console = $ref.GetType().GetProperty('Value', $bf).GetValue($ref)
    $exitCalled = $console.GetType().GetField('_setShouldExitCalled', $bf)
    $exitCode = $console.GetType().GetField('_exitCodeFromRunspace', $bf)
    if ($null -eq $exitCalled -or $null -eq $exitCode) { $console = $null }
} catch {
    $console = $null
}
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
        if ($null -eq $ok) {
            if ($null -ne $console -and $exitCalled.GetValue($console)) {
                $code = [int]$exitCode.GetValue($console)
                $exitCalled.SetValue($console, $false)
                $exitCode.SetValue($console, 0)
            } else {
                $exited = $true
            }
        } elseif (-not $ok) { $code = 1 }
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
