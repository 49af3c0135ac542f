"""Stand-ins for the cloud tools of README's upload recipes, for machines without them (and
for rclone and scp, whose remotes no test can reach): ``fake_cloud.py TOOL ARGS…``.

Each takes exactly the arguments its recipe gives, fails (exit 2) on anything else, so a
path the shell split or mangled fails the test, and copies the file under
``$FAKE_CLOUD_ROOT`` where a local file host serves it, as the real remote would:

* ``aws s3 cp SRC s3://B/K [--content-type T] [--only-show-errors]`` -> B/K;
  ``aws s3 presign s3://B/K --expires-in N`` prints ``$AWS_ENDPOINT_URL/B/K?…``
* ``gcloud storage cp - gs://B/K [--content-type=T]`` (the file on stdin) -> B/K
* ``rclone copyto SRC REMOTE:P`` -> P
* ``scp [-q] SRC USER@HOST:/P`` -> P
"""

from __future__ import annotations

import os
import shutil
import sys


def main(tool: str, args: list[str]) -> int:
    root = os.environ["FAKE_CLOUD_ROOT"]
    if tool == "aws":
        words = _without(args, "--only-show-errors", "--content-type")
        if words[:2] == ["s3", "cp"] and len(words) == 4:
            return _copy(words[2], root, _after(words[3], "s3://"))
        if words[:2] == ["s3", "presign"] and len(words) == 5 and words[3] == "--expires-in":
            key, expires = _after(words[2], "s3://"), words[4]
            endpoint = os.environ["AWS_ENDPOINT_URL"]
            print(f"{endpoint}/{key}?X-Amz-Expires={expires}&X-Amz-Signature=fake")
            return 0
    if tool == "gcloud":
        words = [arg for arg in args if not arg.startswith("--content-type=")]
        if words[:3] == ["storage", "cp", "-"] and len(words) == 4:
            target = os.path.join(root, _after(words[3], "gs://"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                shutil.copyfileobj(sys.stdin.buffer, handle)
            return 0
    if tool == "rclone" and args[:1] == ["copyto"] and len(args) == 3 and ":" in args[2]:
        return _copy(args[1], root, args[2].split(":", 1)[1])
    if tool == "scp":
        words = _without(args, "-q")
        if len(words) == 2 and ":/" in words[1]:
            return _copy(words[0], root, words[1].split(":", 1)[1].lstrip("/"))
    return _usage(tool, args)


def _without(args: list[str], flag: str, option: str | None = None) -> list[str]:
    """*args* less *flag*, and less *option* with the value after it."""
    words: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif arg != flag:
            words.append(arg)
    return words


def _after(url: str, scheme: str) -> str:
    if not url.startswith(scheme):
        raise SystemExit(f"fake {scheme} tool: not a {scheme} URL: {url!r}")
    return url[len(scheme) :]


def _copy(source: str, root: str, key: str) -> int:
    if not os.path.isfile(source):
        print(f"fake tool: no such file {source!r}", file=sys.stderr)
        return 2
    target = os.path.join(root, key)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)
    return 0


def _usage(tool: str, args: list[str]) -> int:
    print(f"fake {tool}: unexpected arguments {args!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
