"""Allow ``python -m lumen_cli``."""

from lumen_cli.app import main

if __name__ == "__main__":
    main()
