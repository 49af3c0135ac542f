#compdef lumen

_lumen_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _LUMEN_COMPLETE=complete_zsh lumen)
}

compdef _lumen_completion lumen
