"""``python -m toolset.cli``: the ``toolset`` command, as before ``toolset.cli`` became a package."""

from toolset.cli import main

if __name__ == "__main__":
    main()
