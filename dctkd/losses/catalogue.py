"""Method names to objective weights: `beta*CE + alpha*term + delta*KD_T` (SPEC A.6, B.1).

The defaults are the weights the published (README-era) tables used; `alphas="retuned"` picks
the later values of the original's alpha search. Weights given explicitly in the config win.
KD alone is the registered `kd` term weighted by alpha (0.8, with beta 0.1), while every
`<method>+kd` adds the logit KD as a separate delta-weighted term (beta 0.1, delta 1, T 4):
the original weights the two differently (0.8 vs 1) and so does this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import MethodConfig

TERMS = ("kd", "at", "pkt", "vid", "crd", "ckd", "review", "dct")

ALPHAS = {
    "paper": {
        "kd": 0.8, "at": 1000.0, "pkt": 30000.0, "vid": 1.0, "crd": 0.8,
        "ckd": 400.0, "review": 1.0, "dct": 1.0,
    },
    "retuned": {
        "kd": 0.8, "at": 1100.0, "pkt": 54000.0, "vid": 1.5, "crd": 1.4,
        "ckd": 400.0, "review": 1.8, "dct": 1.0,
    },
}

# Methods whose term compares feature maps tap by tap, and whether the maps' (H, W) must agree.
SPATIAL = {"at": False, "dct": True, "vid": True}


@dataclass(frozen=True)
class Objective:
    """Resolved weights. `term` is the registered term name (None for plain CE training)."""

    term: str | None
    alpha: float
    beta: float
    delta: float
    temperature: float
    options: dict = field(default_factory=dict)

    @property
    def needs_teacher(self) -> bool:
        return self.term is not None or self.delta > 0


def method_names() -> list[str]:
    """Every accepted `method.name`."""
    return ["none", *TERMS, *(f"{t}+kd" for t in TERMS if t != "kd")]


def resolve(method: MethodConfig) -> Objective:
    """Weights of `method` with the published defaults filled in for the unset ones."""
    name = method.name
    if name not in method_names():
        raise ValueError(
            f"unknown method {name!r} in method.name; expected one of {', '.join(method_names())}"
        )
    if method.alphas not in ALPHAS:
        raise ValueError(
            f"unknown method.alphas {method.alphas!r}; expected one of {sorted(ALPHAS)}"
        )
    if method.temperature <= 0:
        raise ValueError(f"method.temperature must be positive, got {method.temperature}")
    term, plus_kd = (name[:-3], True) if name.endswith("+kd") else (name, False)
    if term == "none":
        alpha, beta, delta, term_name = 0.0, 1.0, 0.0, None
    else:
        alpha, term_name = ALPHAS[method.alphas][term], term
        beta = 0.1 if (plus_kd or term == "kd") else 1.0
        delta = 1.0 if plus_kd else 0.0
    options = dict(method.options)
    if term == "kd":
        options.setdefault("temperature", method.temperature)
    return Objective(
        term=term_name,
        alpha=_pick(method.alpha, alpha),
        beta=_pick(method.beta, beta),
        delta=_pick(method.delta, delta),
        temperature=float(method.temperature),
        options=options,
    )


def _pick(explicit: float | None, default: float) -> float:
    return float(default if explicit is None else explicit)


__all__ = ["ALPHAS", "Objective", "SPATIAL", "TERMS", "method_names", "resolve"]
