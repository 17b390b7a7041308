"""The options of a synthetic scene task (`SceneConfig`, the typed `data.options` of the
`scenes` dataset), checked without generating an image or importing torch; `scenes`
generates the task they describe (its docstring states the rules).
"""

from __future__ import annotations

import math

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from .catalogue import dataset
from .class_sets import plan_kinds
from .layouts import catalogue

SHAPE_NAMES = ("circle", "square", "triangle", "cross", "diamond", "ring")
COLOURS = {
    "red": (0.9, 0.15, 0.1),
    "green": (0.1, 0.75, 0.2),
    "blue": (0.15, 0.25, 0.95),
    "yellow": (0.95, 0.85, 0.1),
    "magenta": (0.85, 0.15, 0.85),
    "cyan": (0.1, 0.8, 0.85),
}
CLASS_SETS = ("spread", "all_needed")  # rules 1 and 3, or every object needed (docstring)
RULES = ("presence", "layout")  # a class is a kind set, or a kind set in one arrangement


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class SceneConfig:
    """Parameters of a scene task: the typed `data.options` of the `scenes` dataset.

    Types are checked (and `"5"` read as 5) on construction, then `validate` checks that the
    task can be generated; either failure is a ValueError naming the option. `rule`:
    "presence" or "layout" (module docstring); `arrangements`: the classes each kind set
    defines under "layout" (2 up to the number of arrangements of k objects that fit the
    grid); `jitter`: the most pixels an object moves inside its cell (None: all the room).
    """

    k: int = 3
    num_classes: int = 10
    image_size: int = 32
    grid: int = 3
    distractors: int = 3
    train_size: int = 5000
    test_size: int = 2000
    seed: int = 0
    shapes: int = 4
    colours: int = 3
    object_size: int | None = None
    class_sets: str = "spread"
    rule: str = "presence"
    arrangements: int = 2
    jitter: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_options(cls, options: dict | None) -> SceneConfig:
        return dataset("scenes").parse_options(options)

    @property
    def sprite(self) -> int:
        return self.object_size or max(3, self.image_size // 4)

    @property
    def per_set(self) -> int:
        """Classes each kind set defines: `arrangements` under `rule="layout"`, else 1."""
        return self.arrangements if self.rule == "layout" else 1

    @property
    def n_sets(self) -> int:
        """Distinct kind sets: one per class, or under `rule="layout"` one per `per_set`."""
        return self.num_classes // self.per_set

    @property
    def n_kinds(self) -> int:
        return self.shapes * self.colours

    @property
    def kind_names(self) -> list[str]:
        colours = list(COLOURS)[: self.colours]
        return [f"{c}-{s}" for c in colours for s in SHAPE_NAMES[: self.shapes]]

    @property
    def room(self) -> int:
        """Pixels an object can move inside the smallest grid cell."""
        return self.image_size // self.grid - self.sprite

    def validate(self) -> None:
        positive = ("k", "num_classes", "image_size", "grid", "train_size", "test_size",
                    "shapes", "colours", "arrangements")
        for name in (*positive, "distractors", "seed", "object_size", "jitter"):
            value, least = getattr(self, name), 1 if name in positive else 0
            if name in ("object_size", "jitter") and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(
                    f"scenes option {name} must be an integer >= {least}, got {value!r}"
                )
        if not 1 <= self.shapes <= len(SHAPE_NAMES) or not 1 <= self.colours <= len(COLOURS):
            raise ValueError(
                f"scenes options shapes and colours must be in 1..{len(SHAPE_NAMES)} "
                f"and 1..{len(COLOURS)}, got {self.shapes} and {self.colours}"
            )
        if self.k + self.distractors > self.grid**2:
            raise ValueError(
                f"k + distractors = {self.k + self.distractors} objects must fit "
                f"the {self.grid}x{self.grid} grid's {self.grid**2} cells"
            )
        if self.sprite > self.image_size // self.grid:
            raise ValueError(
                f"object_size {self.sprite} must fit a grid cell of "
                f"{self.image_size // self.grid} px"
            )
        if self.jitter is not None and self.jitter > self.room:
            raise ValueError(
                f"scenes option jitter must be at most {self.room} px (a grid cell of "
                f"{self.image_size // self.grid} px less the {self.sprite}-px object), "
                f"got {self.jitter}")
        if self.class_sets not in CLASS_SETS:
            raise ValueError(f"scenes option class_sets must be one of {list(CLASS_SETS)}, "
                             f"got {self.class_sets!r}")
        if self.rule not in RULES:
            raise ValueError(f"scenes option rule must be one of {list(RULES)}, "
                             f"got {self.rule!r}")
        if self.rule == "layout":
            self._validate_layout()
        elif self.arrangements != 2:
            raise ValueError("scenes option arrangements (classes per kind set) applies to "
                             f"rule='layout' only, got {self.arrangements} under rule='presence'")
        self._validate_sets()

    def _validate_layout(self) -> None:
        if self.k < 2:
            raise ValueError("rule='layout' needs k >= 2: one object has no arrangement")
        names = [a.name for a in catalogue(self.k, self.grid)]
        if len(names) < 2:
            raise ValueError(
                f"rule='layout' has {len(names)} arrangements of k={self.k} objects on a "
                f"{self.grid}x{self.grid} grid, fewer than 2: make the grid larger")
        if not 2 <= self.arrangements <= len(names):
            raise ValueError(
                f"scenes option arrangements must be in 2..{len(names)} for k={self.k} on a "
                f"{self.grid}x{self.grid} grid ({', '.join(names)}), "
                f"got {self.arrangements}")
        if self.num_classes % self.arrangements:
            raise ValueError(
                f"scenes option num_classes must be a multiple of arrangements under "
                f"rule='layout' (each kind set defines that many classes), got "
                f"num_classes={self.num_classes} and arrangements={self.arrangements}")

    def _validate_sets(self) -> None:
        """That `n_sets` kind sets can be made; under the presence rule each is a class."""
        n, k = self.n_sets, self.k
        what = "classes" if self.rule == "presence" else "kind sets (num_classes / arrangements)"
        if self.class_sets == "all_needed":
            if self.n_kinds < n + (self.distractors > 0):
                raise ValueError(
                    f"class_sets='all_needed' needs more kinds ({self.n_kinds}) than {what} "
                    f"({n}) so distractors have kinds of their own")
            try:
                plan_kinds(n, k)
            except ValueError as err:
                if self.rule == "presence":
                    raise
                raise ValueError(f"class_sets='all_needed' has no {n} {what} of k={k}: "
                                 "change num_classes or arrangements") from err
            return
        if k == 1 and self.n_kinds < n + (self.distractors > 0):
            raise ValueError(
                f"k=1 needs more kinds ({self.n_kinds}) than classes "
                f"({n}) so distractors have a kind of their own"
            )
        if k > 1:
            m = min(self.n_kinds, n * k // 2)
            if m < k or math.comb(m, k) < n:
                raise ValueError(
                    f"cannot make {n} distinct sets of k={k} kinds with every kind in two "
                    f"sets from {self.n_kinds} kinds" + ("" if self.rule == "presence" else
                                                         " (rule='layout' makes num_classes / "
                                                         "arrangements kind sets)"))
