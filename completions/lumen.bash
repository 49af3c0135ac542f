# lumen completion for bash. Install:
#   lumen completion bash > ~/.local/share/bash-completion/completions/lumen
_lumen_completion() {
    local IFS=$'\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD="$COMP_CWORD" \
                   _LUMEN_COMPLETE_LINE="${COMP_LINE:0:$COMP_POINT}" \
                   _LUMEN_COMPLETE=complete_bash lumen 2>/dev/null ) )
    return 0
}
complete -o default -F _lumen_completion lumen
