"""What a Slurm job asks for (`SlurmSettings`, a profile's `slurm:` section) and how a time
limit reads, apart from `slurm.py` so that reading a profile does not import submitit."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StrictStr,
    field_validator,
)


class SlurmSettings(BaseModel):
    """What each run's job asks Slurm for: a profile's `slurm:` section, under the options of
    `dctkd figures --launcher slurm` (which win)."""

    model_config = ConfigDict(extra="forbid")
    partition: StrictStr | None = None
    account: StrictStr | None = None
    time: StrictStr = "24:00:00"  # as sbatch takes it: minutes, or [D-]HH:MM[:SS]
    gpus_per_run: NonNegativeInt = 1
    cpus_per_run: PositiveInt | None = None
    mem_gb: PositiveFloat | None = None
    array_parallelism: PositiveInt = 64  # tasks of one array running at once
    max_timeouts: NonNegativeInt = 3  # requeues after hitting the time limit (preemptions: any)
    setup: list[StrictStr] = []  # shell lines each job runs first, e.g. `source .venv/bin/activate`
    args: dict[str, StrictStr | int | float | bool] = {}  # other sbatch options: {constraint: a100}

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> str:
        """Text only: YAML reads an unquoted 24:00:00 as the number 86400, which sbatch would
        take for 60 days."""
        if not isinstance(value, str):
            raise ValueError(f"expected the time limit as quoted text such as \"24:00:00\" or "
                             f"\"1440\" (minutes), got {value!r}; YAML reads an unquoted "
                             "H:MM:SS as a number")
        minutes(value)
        return value


def minutes(value: str | int) -> int:
    """A Slurm time limit in whole minutes: `90`, `"90"`, `"1:30:00"`, `"2-00:00:00"`, `"2-12"`."""
    if isinstance(value, int):
        return value
    days, _, rest = value.strip().rpartition("-")
    try:
        parts = [int(p) for p in rest.split(":")]
        day = int(days) if days else 0
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
        raise ValueError(f"{value!r} is not a Slurm time limit; expected minutes or "
                         "[D-]HH:MM[:SS], e.g. 1440 or 24:00:00")
    if days:  # days-hours[:minutes[:seconds]]
        hours, mins, secs = (parts + [0, 0])[:3]
    else:  # minutes[:seconds] or hours:minutes:seconds
        hours, mins, secs = [0, *parts, 0][:3] if len(parts) < 3 else parts
    return max(1, day * 1440 + hours * 60 + mins + (secs > 0))
