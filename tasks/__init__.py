"""The five tasks as programs: `python -m tasks.face | tshirt | bbox | signs | sketch`.

`python -m tasks.<task>` imports this package first, before numpy starts its BLAS thread or JAX its
pools: the one moment when the process can still put every thread on one malloc arena. When JAX
will train on the CPU that keeps a long run's host memory flat (`jaxres.train.host_memory`).
"""

from jaxres.train import host_memory

if host_memory.jax_uses_cpu_only():
    host_memory.use_one_malloc_arena()
