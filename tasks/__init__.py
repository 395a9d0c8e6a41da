"""The five tasks as programs: `python -m tasks.face | tshirt | bbox | signs | sketch`.

`python -m tasks.<task>` imports this package first, before numpy starts its BLAS thread or JAX its
pools: the one moment when the process start policy (`jaxres.platform.prepare_process`) can still
put every thread on one malloc arena.
"""

import sys

from jaxres import platform
from jaxres.cli import command_of

# sys.argv[0] is "-m" only while `python -m tasks.<task>` imports its package (not under pytest)
if sys.argv[:1] == ["-m"]:
    platform.prepare_process(command_of(sys.argv[1:]))
