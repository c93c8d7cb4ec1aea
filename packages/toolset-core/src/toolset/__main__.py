"""``python -m toolset``: the ``toolset`` command (used by ``accelerate launch -m toolset``)."""

from toolset.cli import main

if __name__ == "__main__":
    main()
