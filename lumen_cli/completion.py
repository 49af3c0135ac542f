"""Shell completion: the scripts ``lumen completion SHELL`` prints, and the answers to <TAB>.

A script calls ``lumen`` back with ``_LUMEN_COMPLETE=complete_SHELL`` and the line typed so
far (the protocol of Typer's scripts, so a script installed earlier keeps working). The
answer walks the command tree instead of parsing the line as a run would: no value is
converted, nothing is sent, no setting is read but the profile names, and job ids, batch
names and models come from the history, read-only and without waiting for a lock. A shell
is waiting: see the speed figure in ``benchmarks``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lumen_cli.text import escape
from lumen_cli.values import COMMON_ASPECT_RATIOS, COMMON_RESOLUTIONS, KNOWN_MODELS

if TYPE_CHECKING:
    from lumen_cli.history import Glance

COMPLETE_VAR = "_LUMEN_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell")
LINE_VAR = "_LUMEN_COMPLETE_LINE"  # bash: the line up to the cursor (see the bash script)
HELP_CHARS = 60
# Statuses `list --status` takes: the API's, and the history's own for submits.
STATUSES = ("queued", "processing", "succeeded", "failed", "cancelled", "submitting", "unknown")
UNFINISHED = ("queued", "processing")
FILES = None  # the answer "let the shell complete file names"


@dataclass(frozen=True)
class Candidate:
    """One completion: what is inserted, and what the shells that show one describe it as."""

    value: str
    help: str = ""


Answer = list[Candidate] | None  # None: FILES


# -- the scripts -----------------------------------------------------------------------------

_SCRIPTS = {
    "bash": """\
# lumen completion for bash. Install:
#   lumen completion bash > ~/.local/share/bash-completion/completions/lumen
_lumen_completion() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD="$COMP_CWORD" \\
                   _LUMEN_COMPLETE_LINE="${COMP_LINE:0:$COMP_POINT}" \\
                   _LUMEN_COMPLETE=complete_bash lumen 2>/dev/null ) )
    return 0
}
complete -o default -F _lumen_completion lumen
""",
    "zsh": """\
#compdef lumen
# lumen completion for zsh. Install:
#   lumen completion zsh > "${fpath[1]}/_lumen"
_lumen_completion() {
    eval "$(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" \\
                _LUMEN_COMPLETE=complete_zsh lumen 2>/dev/null)"
}
compdef _lumen_completion lumen
""",
    "fish": """\
# lumen completion for fish. Install:
#   lumen completion fish > ~/.config/fish/completions/lumen.fish
function __lumen_complete
    env _LUMEN_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=$argv[1] \\
        _TYPER_COMPLETE_ARGS=(commandline -cp) lumen 2>/dev/null
end
complete --command lumen --no-files --keep-order --arguments "(__lumen_complete get-args)" \\
    --condition "__lumen_complete is-args"
""",
    "powershell": """\
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
""",
}


def script(shell: str) -> str:
    """The completion script for *shell* (one of ``SHELLS``)."""
    return _SCRIPTS[shell]


# -- answering -------------------------------------------------------------------------------


def answer(root: Any, summaries: Mapping[str, str], environ: Mapping[str, str]) -> tuple[str, int]:
    """What to print for the shell's request in *environ*, and the exit code.

    *root* is the ``lumen`` command group; *summaries* its commands' one-line help (so no
    command module is imported to describe them). A ``source_SHELL`` request prints the
    script.
    """
    request = environ.get(COMPLETE_VAR, "")
    action, _, shell = request.partition("_")
    if shell not in SHELLS:
        return "", 1
    if action == "source":
        return script(shell), 0
    args, incomplete = _line(shell, environ)
    found = Completer(root, summaries, environ).complete(args, incomplete)
    return _render(shell, found, incomplete, environ)


def _line(shell: str, environ: Mapping[str, str]) -> tuple[list[str], str]:
    """The words before the one being completed, and that one (maybe empty)."""
    if shell == "bash" and LINE_VAR in environ:
        line = environ[LINE_VAR]
    elif shell == "bash":  # a script from before _LUMEN_COMPLETE_LINE
        words = split_line(environ.get("COMP_WORDS", ""))
        cword = int(environ.get("COMP_CWORD", "0") or 0)
        return words[1:cword], words[cword] if cword < len(words) else ""
    else:
        line = environ.get("_TYPER_COMPLETE_ARGS", "")
    words = split_line(line)
    if shell == "powershell":
        # The whole command is passed; the word under the cursor separately.
        incomplete = environ.get("_TYPER_COMPLETE_WORD_TO_COMPLETE", "")
        return (words[1:-1] if incomplete else words[1:]), incomplete
    if words[1:] and line and not line[-1].isspace():
        return words[1:-1], words[-1]
    return words[1:], ""


def split_line(line: str) -> list[str]:
    """*line* split as a POSIX shell would, an unclosed quote ending the last word."""
    import shlex

    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    words: list[str] = []
    try:
        words.extend(lexer)
    except ValueError:  # "No closing quotation": what was typed so far is the word
        words.append(lexer.token)
    return words


def _render(
    shell: str, found: Answer, incomplete: str, environ: Mapping[str, str]
) -> tuple[str, int]:
    if shell == "fish":
        if environ.get("_TYPER_COMPLETE_FISH_ACTION") == "is-args":
            return "", 0 if found else 1  # 1: fish completes file names
        return "\n".join(_fish(item) for item in found or []), 0
    if found is FILES:
        return ("_files" if shell == "zsh" else ""), 0
    if shell == "zsh":
        if not found:
            return "", 0
        items = " ".join(_zsh_quote(_zsh_item(item)) for item in found)
        return f"local -a _lumen_values=({items}); _describe -V lumen _lumen_values", 0
    if shell == "powershell":
        return "\n".join(f"{item.value}:::{item.help or item.value}" for item in found), 0
    # bash replaces only what follows the last ':' or '=' of the word (COMP_WORDBREAKS).
    cut = max(incomplete.rfind(":"), incomplete.rfind("=")) + 1
    return "\n".join(item.value[cut:] for item in found), 0


def _fish(item: Candidate) -> str:
    return f"{item.value}\t{item.help}" if item.help else item.value


def _zsh_item(item: Candidate) -> str:
    value = item.value.replace("\\", "\\\\").replace(":", "\\:")
    return f"{value}:{item.help}" if item.help else value


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# -- the command tree ------------------------------------------------------------------------

# Values that name files (inputs may be local files): the shell completes them.
_PATHS = {"output", "file", "results", "image", "last_image", "ref_image", "ref_video"}


class Completer:
    """Finds the candidates for the word being completed, walking the command tree."""

    def __init__(self, root: Any, summaries: Mapping[str, str], environ: Mapping[str, str]):
        self.root = root
        self.summaries = summaries
        self.environ = environ
        self.sandbox = environ.get("LUMEN_SANDBOX", "").lower() in ("1", "true", "yes", "on")
        self.given: list[str] = []  # the arguments the command was given so far
        self._glance: Glance | None = None

    def complete(self, args: list[str], incomplete: str) -> Answer:
        command, path, pending = self._walk(args)
        if command is None:
            return []  # not a command lumen has
        typed = None
        if pending is None and incomplete.startswith("--") and "=" in incomplete:
            name, _, typed = incomplete.partition("=")
            pending = self._option(command, name)
            if pending is None:
                return []
        if pending is not None:
            found = self._values(path, pending.name, incomplete if typed is None else typed)
            if found is not FILES and typed is not None:  # --model=see: keep the option
                found = [Candidate(f"{name}={c.value}", c.help) for c in found]
            return found
        if incomplete.startswith("-"):
            return self._options(command, incomplete)
        if hasattr(command, "commands"):
            return self._subcommands(command, incomplete)
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        given = len(self.given)
        if not arguments or (given >= len(arguments) and arguments[-1].nargs != -1):
            return []  # every argument is given
        return self._values(path, arguments[min(given, len(arguments) - 1)].name, incomplete)

    def _walk(self, args: Sequence[str]) -> tuple[Any, list[str], Any]:
        """The command the words reach (None: no such command), its path, and the option
        whose value the next word is (or None). Fills ``given``."""
        command: Any = self.root
        path: list[str] = []
        pending: Any = None
        after_dashes = False
        for word in args:
            if pending is not None:
                pending = None
                continue
            if word == "--":
                after_dashes = True
                continue
            if word.startswith("-") and word != "-" and not after_dashes:
                option = self._option(command, word.split("=", 1)[0])
                if option is not None and not option.is_flag and "=" not in word:
                    pending = option
                self.sandbox = self.sandbox or word == "--sandbox"
                continue
            if hasattr(command, "commands") and not self.given:  # the word names a command
                sub = self._subcommand(command, word)
                if sub is not None:
                    command, path = sub, [*path, word]
                    continue
                default = getattr(command, "default_command", None)
                if default is None:
                    return None, path, None
                # `lumen batch FILE`: the word is the default command's first argument
                command, path = command.commands[default], [*path, default]
            self.given.append(word)
        return command, path, pending

    def _subcommand(self, group: Any, name: str) -> Any:
        if group is self.root:
            return group.get_command(None, name) if name in self.summaries else None
        return group.commands.get(name)

    def _option(self, command: Any, name: str) -> Any:
        for holder in (command, self.root):  # the root's options go anywhere on the line
            for param in holder.params:
                if param.param_type_name == "option" and name in (
                    *param.opts,
                    *param.secondary_opts,
                ):
                    return param
        return None

    def _options(self, command: Any, incomplete: str) -> list[Candidate]:
        found: list[Candidate] = []
        for holder in [command] if command is self.root else [command, self.root]:
            for param in holder.params:
                if param.param_type_name != "option" or getattr(param, "hidden", False):
                    continue
                names = [n for n in (*param.opts, *param.secondary_opts) if n.startswith("--")]
                found += [Candidate(n, _summary(param.help or "")) for n in names or param.opts]
        found.append(Candidate("--help", "Show this help."))
        return [c for c in _unique(found) if c.value.startswith(incomplete)]

    def _subcommands(self, group: Any, incomplete: str) -> Answer:
        if group is self.root:
            pairs = list(self.summaries.items())
        else:
            pairs = [(name, _summary(sub.help or "")) for name, sub in group.commands.items()]
        found = [Candidate(name, help) for name, help in pairs if name.startswith(incomplete)]
        if not found and getattr(group, "default_command", None):
            return FILES  # `lumen batch FILE`
        return found

    # -- values --------------------------------------------------------------------------

    def _values(self, path: list[str], name: str, incomplete: str) -> Answer:
        if path == ["config", "set"] and name == "value":
            key = self.given[0] if self.given else ""
            name = "profile" if key == "default_profile" else key
        if name in _PATHS:
            return FILES
        if name in ("job_id", "job_ids"):
            return self._jobs(path, incomplete)
        values = _BY_NAME.get(name)
        return [c for c in values(self) if c.value.startswith(incomplete)] if values else []

    def _jobs(self, path: list[str], incomplete: str) -> list[Candidate]:
        if path == ["download"]:
            rows = self.glance.jobs(incomplete, only=("succeeded",))
        elif path == ["wait"]:
            rows = self.glance.jobs(incomplete, first=UNFINISHED)
        else:
            rows = self.glance.jobs(incomplete)
        return [
            Candidate(job_id, _summary(f"{status}  {prompt}"))
            for job_id, status, prompt in rows
            if job_id not in self.given and _plain(job_id)
        ]

    @property
    def glance(self) -> Glance:
        if self._glance is None:
            from lumen_cli.config import data_dir
            from lumen_cli.history import Glance

            name = "sandbox-history.sqlite3" if self.sandbox else "history.sqlite3"
            shared = not self.sandbox and self._shared_history()
            self._glance = Glance(None if shared else data_dir() / name)
        return self._glance

    def _shared_history(self) -> bool:
        """Whether history_url names a shared history (whose jobs are not completed)."""
        from lumen_cli.config import CONFIG_FILE_NAME, ConfigFile, Settings, config_dir
        from lumen_cli.errors import LumenError

        try:
            settings = Settings(ConfigFile(config_dir() / CONFIG_FILE_NAME), env=self.environ)
            return bool(settings.value("history_url"))
        except (LumenError, OSError):
            return False

    def models(self) -> list[Candidate]:
        seen = [model for model in self.glance.models() if _plain(model)]
        known = [Candidate(m, "used before" if m in seen else "") for m in KNOWN_MODELS]
        return _unique([*known, *(Candidate(model, "used before") for model in seen)])

    def batches(self) -> list[Candidate]:
        return [Candidate(name) for name in self.glance.batches() if _plain(name)]

    def profiles(self) -> list[Candidate]:
        from lumen_cli.config import CONFIG_FILE_NAME, DEFAULT_PROFILE, ConfigFile, config_dir
        from lumen_cli.errors import LumenError

        try:
            profiles = ConfigFile(config_dir() / CONFIG_FILE_NAME).load().get("profiles", {})
        except (LumenError, OSError):
            profiles = {}
        names = [DEFAULT_PROFILE, *(str(name) for name in profiles)]
        return _unique([Candidate(name) for name in names if _plain(name)])

    def keys(self) -> list[Candidate]:
        from lumen_cli.config import KEYS

        found = [Candidate(key.name, _summary(key.help)) for key in KEYS.values()]
        return [*found, Candidate("default_profile", "The profile used when none is named.")]

    def commands(self) -> list[Candidate]:
        return [Candidate(name, help) for name, help in self.summaries.items()]


def _fixed(*values: str) -> Callable[[Completer], list[Candidate]]:
    return lambda _: [Candidate(value) for value in values]


# What completes a value, by the name of its option, argument or setting (`config set`).
_BY_NAME: dict[str, Callable[[Completer], list[Candidate]]] = {
    "model": Completer.models,
    "resolution": _fixed(*COMMON_RESOLUTIONS),
    "aspect_ratio": _fixed(*COMMON_ASPECT_RATIOS),
    "status": _fixed(*STATUSES),
    "generate_audio": _fixed("true", "false"),
    "batch": Completer.batches,
    "name": Completer.batches,
    "profile": Completer.profiles,
    "key": Completer.keys,
    "shell": _fixed(*SHELLS),
    "command": Completer.commands,
    "file_format": _fixed("jsonl", "csv", "text"),
    "by": _fixed("model", "day", "profile", "batch"),
    "fetch_inputs": _fixed("none", "loopback", "all"),
}


def _summary(text: str) -> str:
    """The first sentence of *text*, on one line, escaped and short."""
    first = re.split(r"(?<=\.)\s", " ".join(text.split()), maxsplit=1)[0]
    shown = escape(first)
    return shown if len(shown) <= HELP_CHARS else shown[: HELP_CHARS - 1] + "…"


def _plain(value: str) -> bool:
    """Whether *value* can be offered as it is: no space, quote or control character."""
    return bool(value) and escape(value) == value and not re.search(r"[\s'\"\\`$]", value)


def _unique(found: list[Candidate]) -> list[Candidate]:
    """*found* without a value seen before (the first one stays)."""
    kept: dict[str, Candidate] = {}
    for candidate in found:
        kept.setdefault(candidate.value, candidate)
    return list(kept.values())
