"""What jaxres does differently per platform: system calls (`system`), devices in words, the malloc and
heap policy of a CPU training, per-program XLA options; imports neither numpy nor JAX."""

from jaxres.platform import devices, system
from jaxres.platform.host_memory import (HostHooks, accelerator_plugins, jax_uses_cpu_only, prepare_process,
                                        release_freed_memory, use_one_malloc_arena)
from jaxres.platform.xla_options import compiler_options, options_for

__all__ = ["HostHooks", "accelerator_plugins", "compiler_options", "devices", "jax_uses_cpu_only", "options_for",
           "prepare_process", "release_freed_memory", "system", "use_one_malloc_arena"]
