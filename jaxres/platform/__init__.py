"""What jaxres does differently per platform, and why: the one place to look.

- The operating system's own calls (`system`): the CPUs this process may use (Linux's affinity
  mask, else every CPU) and the workdir lock (flock on Unix, msvcrt on Windows); nothing else in
  the library calls them, so a laptop runs what a Linux server runs.
- The devices in words for a run's start line (`devices.describe`): platform, chip, compute dtype.

Each measure below is a measured win on XLA:CPU (the figures are in docs/BENCHMARKS.md, in the
section named); accelerators keep glibc's and XLA's defaults.

- One malloc arena for a CPU training (`prepare_process`, called by `python -m tasks.<task>` and
  the `jaxres` command before numpy is imported): glibc's per-thread arenas let the resident memory
  of a long CPU run climb epoch after epoch, one arena keeps it flat ("Soak").
- Heap trims around checkpoint saves (`HostHooks`, which the training loop calls at its points):
  glibc keeps the pages a finished save freed unless `malloc_trim` hands them back ("Soak").
- Foreground checkpoint saves on CPU (`jaxres.train.loop.async_saves`): a background writer
  competes with the training for the cores and leaves the heap fragmented ("Soak").
- XLA options per compiled program (`compiler_options`): region-based copy insertion drops the
  per-step copies of the donated state, and BasicBlock nets run their spatial convolutions in
  XLA's multi-threaded Eigen runtime rather than single-threaded YNNPACK ("Adopted in the library").
- Convolutions and the stem's max-pool computed by the form XLA:CPU runs fastest for their shape
  (`jaxres.models.conv.Conv2d` and `jaxres.models.max_pool`, the ResNet's default `conv` and
  `pool`): the same parameters and values as `nn.Conv` and `nn.max_pool` ("Adopted in the library").

Nothing here imports JAX or numpy at import time: `prepare_process` must run before they start threads.
"""

from jaxres.platform import devices, system
from jaxres.platform.host_memory import HostHooks, release_freed_memory, use_one_malloc_arena
from jaxres.platform.process import accelerator_plugins, jax_uses_cpu_only, prepare_process
from jaxres.platform.xla_options import compiler_options, options_for

__all__ = ["HostHooks", "accelerator_plugins", "compiler_options", "devices", "jax_uses_cpu_only", "options_for",
           "prepare_process", "release_freed_memory", "system", "use_one_malloc_arena"]
