"""The engine: a run config in, a trained run folder out.

`runs.ensure(cfg, store)` trains a config once (its teacher first) into the hash-named run
store and returns the `Run`; `launch.ensure_all` trains many in parallel workers (a GPU each),
and `slurm.submit` queues them as Slurm job arrays through submitit. Below them:
`checks` (everything verified before training), `distiller` (student + frozen teacher +
weighted objective), `train` (the loop: AMP, DDP, resumable checkpoints), `checkpoint`,
`evaluate` (metrics) and `runtime` (device, precision, process group, seeds).
"""

from .checks import check
from .distiller import Distiller, build_distiller
from .launch import ensure_all
from .runs import DEFAULT_STORE, Run, dataset_of, ensure, run_path
from .runtime import ConfigError

__all__ = [
    "DEFAULT_STORE",
    "ConfigError",
    "Distiller",
    "Run",
    "build_distiller",
    "check",
    "dataset_of",
    "ensure",
    "ensure_all",
    "run_path",
]
