# lumen completion for fish. Install:
#   lumen completion fish > ~/.config/fish/completions/lumen.fish
function __lumen_complete
    env _LUMEN_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=$argv[1] \
        _TYPER_COMPLETE_ARGS=(commandline -cp) lumen 2>/dev/null
end
complete --command lumen --no-files --keep-order --arguments "(__lumen_complete get-args)" \
    --condition "__lumen_complete is-args"
