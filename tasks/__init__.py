"""The five tasks as programs: `python -m tasks.face | tshirt | bbox | signs | sketch`.

`python -m tasks.<task>` imports this package first, before numpy starts its BLAS thread or JAX its
pools: the one moment when the process can still put every thread on one malloc arena. A training
on the CPU then keeps its host memory flat over many epochs; the price, ~25% more time for a cold
XLA compile, is paid once per run, so the short commands (eval, predict, export) and accelerator
runs keep glibc's default (`jaxres.train.host_memory`, docs/BENCHMARKS.md "Soak").
"""

import sys

from jaxres.cli import command_of
from jaxres.train import host_memory

# sys.argv[0] is "-m" only while `python -m tasks.<task>` imports its package (not under pytest)
if sys.argv[:1] == ["-m"] and command_of(sys.argv[1:]) == "train" and host_memory.jax_uses_cpu_only():
    host_memory.use_one_malloc_arena()
