"""``python -m confrec.worker.cli``: the `confrec` command, as every version of the tree runs it
(local stacks and the benchmarks start workers this way, a baseline tree included)."""

from confrec.worker.cli.commands import main

main()
