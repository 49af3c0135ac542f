"""An upload command for tests (``tests.support.FakeUploader``): copy a file where a local
file host serves it, and print its URL as the last line, as a real upload command would.

Usage: fake_uploader.py PATH NAME BASE_URL FOLDER LOG ENV_FILE DELAY
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time


def main(argv: list[str]) -> int:
    path, name, base_url, folder, log, env_file, delay = argv
    time.sleep(float(delay))
    shutil.copyfile(path, os.path.join(folder, name))
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(path) + "\n")
    with open(env_file, "w", encoding="utf-8") as handle:
        json.dump(dict(os.environ), handle)
    print("uploading, please wait", file=sys.stderr)
    print(f"copied {os.path.getsize(path)} bytes")  # noise before the URL
    print(f"{base_url}/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
