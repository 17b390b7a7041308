"""Where and how a run executes: device, mixed precision, the torchrun process group, seeds.

None of it changes what a run is (its config hash); all of it changes how fast it goes.
"""

from __future__ import annotations

import os
import random
import signal
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from dctkd.errors import ConfigError, RunFailed


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the torchrun process group when `WORLD_SIZE > 1` (nccl on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return DistInfo()
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        owns = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                    owns)


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for `Runtime.amp` on `device`: bf16 where the hardware has it."""
    if amp == "off":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_supports_bf16() else None


def pick_device(spec: str, local_rank: int = 0) -> torch.device:
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("runtime.device is 'cuda' but no CUDA device is available")
        return torch.device("cuda", local_rank)
    try:
        return torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"unknown device {spec!r}; expected auto, cpu, mps, cuda or "
                          "cuda:<index>") from None


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + rank * 101 + 1) % 2**62


def seed_worker(worker_id: int) -> None:
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)
    _leave_preemption_to_main()


def _leave_preemption_to_main() -> None:
    """In a Slurm job (submitit), a DataLoader worker ignores the preemption signal: Slurm
    sends it to every process of the job, and the handler the worker inherited through fork
    would requeue the job a second time; the main process checkpoints and requeues."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return
    sig = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
    if sig is not None:
        signal.signal(sig, signal.SIG_IGN)



def set_determinism(on: bool, device: torch.device) -> None:
    """Deterministic kernels when `on`; cudnn autotuning otherwise (on CUDA)."""
    if on and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # Switching imports torch._inductor.config (about 1.8 s) to set its flag too; a run that
    # leaves the default off needs neither.
    if on or torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = not on and device.type == "cuda"


__all__ = ["ConfigError", "DistInfo", "RunFailed", "amp_dtype", "cpu_supports_bf16", "epoch_seed",
           "init_distributed", "pick_device", "seed_all", "seed_worker", "set_determinism"]
