"""The engine: a run config in, a trained run folder out.

`runs.ensure(cfg, store)` trains a config once (its teacher first) into the hash-named run
store and returns the `Run`; `launch.ensure_all` trains many in parallel workers (a GPU each),
and `slurm.submit` queues them as Slurm job arrays through submitit. Below them:
`checks` (everything verified before training), `distiller` (student + frozen teacher +
weighted objective), `train` (the loop: AMP, DDP, resumable checkpoints), `checkpoint`,
`evaluate` (metrics) and `runtime` (device, precision, process group, seeds).

The distiller, which needs torch, is imported when first used (PEP 562): finding and checking
runs (`dctkd status`, `dctkd train --print-config`) imports no torch.
"""

from typing import TYPE_CHECKING

from dctkd.errors import ConfigError
from dctkd.lazy import lazy_names

from .checks import check
from .launch import ensure_all
from .runs import DEFAULT_STORE, Run, dataset_of, ensure, run_path

if TYPE_CHECKING:  # what a type checker and an editor see; nothing is imported at run time
    from .distiller import Distiller, build_distiller

__getattr__ = lazy_names(__name__, {"Distiller": ".distiller", "build_distiller": ".distiller"})

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
