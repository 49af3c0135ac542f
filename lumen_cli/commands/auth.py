"""``lumen auth``: store, check and forget the API key."""

from __future__ import annotations

from typing import Annotated

import typer

from lumen_cli.commands.base import Command, group
from lumen_cli.commands.inputs import read_secret
from lumen_cli.commands.options import JsonOutput
from lumen_cli.config import mask
from lumen_cli.context import AppContext, app_context
from lumen_cli.errors import AUTH_HINT, AuthRejected, BadInput, ExitCode, NoKey, Unavailable

app = group(
    """Store, check and forget the API key.

The key is kept in the config file (mode 0600), or read from LUMEN_API_KEY.

**Examples**

    lumen auth login

    lumen auth status
"""
)

KEY_PREFIX = "sk-lumen-"


@app.command("login", cls=Command)
def login(
    ctx: typer.Context,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check the key with the API before saving.")
    ] = True,
) -> None:
    """Save an API key in the config file (0600), read from a hidden prompt or stdin.

    **Examples**

        lumen auth login

        printf %s "$LUMEN_KEY_FROM_VAULT" | lumen auth login
    """
    state = app_context(ctx, creates_profile=True)
    _refuse_sandbox(state, "login")
    key = read_secret("api_key", None, prompt="Paste your Lumen API key (input is hidden)")
    if not key.startswith(KEY_PREFIX):
        raise BadInput(f"that does not look like a Lumen key (they start with {KEY_PREFIX})")
    if verify:
        from lumen_cli.api.client import LumenClient
        from lumen_cli.api.retry import RetryPolicy

        # A quick check: a missing network must not hold up saving the key for long.
        quick = RetryPolicy(max_attempts=2, deadline=10.0)
        with LumenClient(state.base_url, key, clock=state.clock, retry=quick) as client:
            try:
                accepted = client.key_is_accepted()
            except Unavailable as error:
                state.output.warn(f"could not check the key ({error.message}); saving it anyway")
                accepted = True
            if not accepted:
                raise AuthRejected(
                    "the API rejected this key; it was not saved",
                    status=401,
                    hint="Check it in the Lumen console.",
                )
    profile = state.settings.profile
    state.config_file.update(profile, "api_key", key)
    state.output.info(f"saved {mask(key)} to [profiles.{profile}] in {state.config_file.path}")


@app.command("status", cls=Command)
def status(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """Show where the key comes from, the key masked, and whether the API accepts it.

    Exits 3 when there is no key or the API rejects it.

    **Example**

        lumen auth status
    """
    state = app_context(ctx, json_output=json_output)
    key = state.api_key
    if not key:
        raise NoKey()
    source = state.settings.get("api_key").source
    accepted = state.client.key_is_accepted()
    report = {
        "profile": state.settings.profile,
        "source": source,
        "key": mask(key),
        "base_url": state.base_url,
        "accepted": accepted,
    }
    if json_output:
        state.output.json(report)
    else:
        state.output.fields(
            [
                ("profile", state.settings.profile),
                ("key", f"{mask(key)} (from {source})"),
                ("api", state.base_url),
                ("accepted", "yes" if accepted else "no: the API rejected this key (401)"),
            ]
        )
    if not accepted:
        if not json_output:
            state.output.hint(AUTH_HINT)
        raise typer.Exit(ExitCode.AUTH)


@app.command("logout", cls=Command)
def logout(ctx: typer.Context) -> None:
    """Remove the stored key from the active profile.

    **Example**

        lumen auth logout
    """
    state = app_context(ctx)
    _refuse_sandbox(state, "logout")
    profile = state.settings.profile
    had_key = "api_key" in state.settings.profile_table
    state.config_file.update(profile, "api_key", None)
    state.output.info(
        f"removed the key from [profiles.{profile}]"
        if had_key
        else f"no key was stored in [profiles.{profile}]"
    )
    if state.settings.get("api_key").source == "env":
        state.output.warn("LUMEN_API_KEY is still set in this environment")


def _refuse_sandbox(state: AppContext, verb: str) -> None:
    """``--sandbox`` uses its own key: it never reads or writes the real profile's."""
    if state.sandbox:
        raise BadInput(
            f"auth {verb} does not apply to --sandbox: the sandbox needs no key",
            hint=f"Run `lumen auth {verb}` without --sandbox (and without LUMEN_SANDBOX=1) "
            "to manage the key for the real API.",
        )
