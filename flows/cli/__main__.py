"""``python -m flows.cli``: the same as the ``trialflow`` console script."""

from flows.cli import main

main()
