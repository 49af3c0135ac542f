# lumen completion for PowerShell. Install:
#   lumen completion powershell >> $PROFILE
Register-ArgumentCompleter -Native -CommandName lumen -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $Env:_LUMEN_COMPLETE = "complete_powershell"
    $Env:_TYPER_COMPLETE_ARGS = $commandAst.ToString()
    $Env:_TYPER_COMPLETE_WORD_TO_COMPLETE = $wordToComplete
    lumen 2>$null | ForEach-Object {
        $value, $help = $_ -Split ":::", 2
        [System.Management.Automation.CompletionResult]::new(
            $value, $value, 'ParameterValue', $help)
    }
    $Env:_LUMEN_COMPLETE = ""
    $Env:_TYPER_COMPLETE_ARGS = ""
    $Env:_TYPER_COMPLETE_WORD_TO_COMPLETE = ""
}
