"""What jaxres does differently per platform: the one place to look. The operating system's calls (`system`),
devices in words (`devices`), and the XLA:CPU measures (figures in docs/BENCHMARKS.md): one malloc arena
for a CPU training (`prepare_process`) and heap trims around saves (`HostHooks`) keep memory flat; per-
program XLA options (`compiler_options`). Imports neither numpy nor JAX: `prepare_process` runs before they
start threads.
"""

from jaxres.platform import devices, system
from jaxres.platform.host_memory import HostHooks, release_freed_memory, use_one_malloc_arena
from jaxres.platform.process import accelerator_plugins, jax_uses_cpu_only, prepare_process
from jaxres.platform.xla_options import compiler_options, options_for

__all__ = ["HostHooks", "accelerator_plugins", "compiler_options", "devices", "jax_uses_cpu_only", "options_for",
           "prepare_process", "release_freed_memory", "system", "use_one_malloc_arena"]
