#compdef lumen
# lumen completion for zsh. Install:
#   lumen completion zsh > "${fpath[1]}/_lumen"
_lumen_completion() {
    eval "$(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" \
                _LUMEN_COMPLETE=complete_zsh lumen 2>/dev/null)"
}
compdef _lumen_completion lumen
