"""The typed settings of a profile: its top-level keys and what each experiment family of
`dctkd.report.grid` takes (`FAMILY_SETTINGS`), so a misspelled or mistyped key stops when the
profile loads (`profile._check_types`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StrictBool,
    model_validator,
)

from dctkd.engine.slurm_settings import SlurmSettings

_FIELDS = ConfigDict(extra="forbid")


class _Pair(BaseModel):
    model_config = _FIELDS
    teacher: str
    student: str


class _Family(BaseModel):
    """The settings every family may take; each family adds its own, and nothing else."""

    model_config = _FIELDS
    dataset: str | None = None
    pair: NonNegativeInt = 0
    seeds: list[NonNegativeInt] | None = None
    seed: NonNegativeInt | None = None


class _Control(BaseModel):
    """A row beside a family's methods: a method under settings of its own."""

    model_config = _FIELDS
    method: str
    alpha: float | None = None
    options: dict | None = None
    settings: dict | None = None


class _Datasets(_Family):
    datasets: list[str]


class _Methods(_Family):
    methods: list[str]


class _Alpha(_Family):
    method: str
    alphas: list[float]


class _Design(_Family):
    transform: dict[str, dict | None] | None = None
    pred_guide: dict[str, dict | None] | None = None
    levels: dict[str, dict | None] | None = None


class _BaselineAlpha(_Methods):
    changes: list[float]


class _Curves(_Family):
    max_epoch: PositiveInt | None = None


class _Main(_Datasets):
    controls: dict[str, _Control] | None = None


class _Budget(_Family):
    check: float = 2.0
    factors: list[float] = []
    methods: list[str] = []


class _Regime(_Methods):
    title: str
    check: float = 2.0
    teacher: dict = {}
    student: dict = {}


class _KBudget(BaseModel):
    """The k-study's convergence check: the runs of `seeds` re-trained at `factor` x epochs."""

    model_config = _FIELDS
    factor: PositiveFloat = 2.0
    seeds: list[NonNegativeInt] = [0]


class _KVariant(BaseModel):
    """One k of the k-study: its scene options, its role settings, and layers over the
    students of single methods."""

    model_config = _FIELDS
    options: dict = {}
    roles: dict[Literal["teacher", "student"], dict] = {}
    methods: dict[str, dict] = {}


class _Rule(BaseModel):
    """One rule of the study's scenes (presence, layout): its scene options and role
    settings, laid over every k's."""

    model_config = _FIELDS
    options: dict = {}
    roles: dict[Literal["teacher", "student"], dict] = {}


class _KStudy(_Methods):
    ks: dict[int, _KVariant | None]
    rules: dict[Literal["presence", "layout"], _Rule | None] | None = None
    controls: dict[str, _Control] | None = None
    teacher_seeds: list[NonNegativeInt] | None = None
    budget: _KBudget | None = None

    @model_validator(mode="after")
    def _layers_name_trained_methods(self) -> _KStudy:
        for name, rule in (self.rules or {}).items():
            if rule and rule.options.get("rule", name) != name:
                raise ValueError(f"rules.{name}.options.rule is {rule.options['rule']!r}; a "
                                 "rule's key names it, so leave the option out")
        for k, variant in self.ks.items():
            unknown = sorted(set(variant.methods) - set(self.methods)) if variant else []
            if unknown:
                raise ValueError(f"ks.{k}.methods names {unknown}, which the study does not "
                                 f"train; expected some of {self.methods}")
        return self


class _Claims(BaseModel):
    """How the main table's comparisons are decided: the equivalence margin (points of Top-1)
    and the primary endpoints, each `[A, B]` by row label (`best`: the best other method
    alone, chosen on val)."""

    model_config = _FIELDS
    margin: PositiveFloat = 2.0
    primary: list[tuple[str, str]] = []


# The keys each experiment family of `dctkd.report.grid` reads (one entry per family there);
# a misspelled one stops here.
FAMILY_SETTINGS: dict[str, type[BaseModel]] = {
    "teachers": _Datasets, "main": _Main, "baselines": _Datasets, "method": _Methods,
    "per_class": _Methods, "attention": _Methods, "alpha": _Alpha, "design": _Design,
    "baseline_alpha": _BaselineAlpha, "curves": _Curves, "kstudy": _KStudy,
    "budget": _Budget, "regime": _Regime,
}
# The typed top-level keys (the rest are free-form sections, checked by `_validate`).
TOP_TYPES: dict[str, Any] = {
    "description": str, "synthetic": StrictBool, "seeds": list[NonNegativeInt],
    "teacher_seed": NonNegativeInt, "methods": list[str], "plus_kd": list[str],
    "pairs": list[_Pair], "families": dict[str, dict], "slurm": SlurmSettings,
    "claims": _Claims,
}


__all__ = ["FAMILY_SETTINGS", "TOP_TYPES"]
