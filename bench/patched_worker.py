"""PROTOTYPE entry, bench only: ``python -m bench.patched_worker PATCHES worker [args]``.

Applies the comma-separated prototypes (bench/worker_patches.py), then runs
``confrec`` with the remaining arguments. ``gevent`` monkeypatches the standard library
first of all, which is what ``celery``'s own entry point does (maybe_patch_concurrency)
and ``confrec worker`` does not.
"""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    names = sys.argv[1].split(",")
    if "gevent" in names:
        importlib.import_module("gevent.monkey").patch_all()
    from bench import worker_patches

    worker_patches.apply(names)
    sys.argv = ["confrec", *sys.argv[2:]]
    from confrec.worker.cli import main as confrec

    confrec()


if __name__ == "__main__":
    main()
