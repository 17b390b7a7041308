"""The catalogues: a method registered anywhere reaches the CLI, profiles, the objective and
figures with no other file touched; configs that mean the same run hash the same."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from engine_helpers import tiny
from matplotlib.colors import to_hex
from pydantic import PositiveFloat

from dctkd.cli import main
from dctkd.config import apply_overrides
from dctkd.engine import runs
from dctkd.losses import METHODS, DistillTerm, Method, Options, label, method, register, resolve
from dctkd.report import figures
from dctkd.report import grid as E
from dctkd.report.profile import load_profile


class LogitMSE(DistillTerm):
    """A toy term: squared distance between the two networks' logits."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    @classmethod
    def build(cls, *, student_shapes, teacher_shapes, num_samples, num_classes, batch_size,
              scale: float) -> LogitMSE:
        return cls(scale)

    def distill(self, student, teacher, targets, index=None) -> torch.Tensor:
        return self.scale * F.mse_loss(student.logits.float(), teacher.logits.float())


class LogitMSEOptions(Options):
    scale: PositiveFloat = 1.0


@pytest.fixture
def logit_mse():
    entry = register(Method("logitmse", "Logit MSE", "#123456", term=LogitMSE, alpha=2.0,
                            options=LogitMSEOptions))
    yield entry
    METHODS.pop("logitmse")


def test_a_registered_method_is_listed_and_trains_from_the_cli(logit_mse, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "logitmse" in capsys.readouterr().out
    rc = main(["train", "--store", str(tmp_path), "model=resnet8", "method.name=logitmse+kd",
               "teacher.model=resnet8", "method.options.scale=0.5",
               *(f"{k}={v}" for k, v in _tiny_overrides().items())])
    assert rc == 0
    (run_dir,) = [p for p in tmp_path.iterdir() if "logitmse" in p.name]
    final = runs.Run(run_dir).metrics()
    assert final["method"]["alpha"] == 2.0 and final["method"]["options"] == {"scale": 0.5}
    assert "loss_logitmse" in runs.Run(run_dir).history().columns
    assert main(["train", "--store", str(tmp_path), "method.name=logitmse",
                 "teacher.model=resnet8", "method.options.scale=-1"]) == 2
    assert "scale" in capsys.readouterr().err


def _tiny_overrides() -> dict:
    cfg = tiny(**{"optim.epochs": 1})
    out = {"optim.epochs": 1, "optim.batch_size": 32, "optim.lr": 0.05,
           "runtime.progress": "false"}
    for key, value in cfg.data.options.items():
        out[f"data.options.{key}"] = value
        out[f"teacher.data.options.{key}"] = value
    out.update({f"teacher.{k}": v for k, v in out.items() if k.startswith("optim")})
    return out


def test_a_registered_method_enters_profiles_and_figures(logit_mse):
    prof = load_profile("smoke", ["methods=[at, logitmse]", "plus_kd=[logitmse]"])
    cells = E.main(prof)
    labels = {c.label for c in cells}
    assert {"Logit MSE", "Logit MSE + KD"} <= labels
    assert resolve(next(c for c in cells if c.label == "Logit MSE").cfg.method).alpha == 2.0
    df = pd.DataFrame({"pair": "t → s", "label": ["Baseline", "Logit MSE", "Logit MSE + KD"],
                       "top1": [50.0, 55.0, 57.0]})
    fig = figures.method_bars(df, ["Baseline", "Logit MSE", "Logit MSE + KD"])
    colours = {to_hex(p.get_facecolor()) for p in fig.axes[0].patches}
    plt.close(fig)
    assert "#123456" in colours and label("logitmse+kd") == "Logit MSE + KD"
    with pytest.raises(ValueError, match="unknown method"):
        load_profile("smoke", ["methods=[no_such_method]"])


def test_configs_meaning_the_same_run_hash_the_same():
    prof = load_profile("smoke")
    cfg = next(c for c in E.main(prof) if c.label == "DCT").cfg
    spelled = apply_overrides(cfg, ["method.alpha=1", "method.options.variant=v1",
                                    "method.options.pred_guide=true", "method.temperature=2",
                                    "data.options.grid=3", "teacher.data.options.shapes=4"])
    assert spelled.run_id == cfg.run_id
    for different in (["method.alpha=2"], ["method.options.variant=v2"],
                      ["data.options.grid=4"], ["method.name=dct+kd"]):
        assert apply_overrides(cfg, different).run_id != cfg.run_id, different
    kd = next(c for c in E.main(prof) if c.label == "DCT + KD").cfg
    assert apply_overrides(kd, ["method.temperature=2"]).run_id != kd.run_id


def test_unknown_or_ill_typed_options_name_the_method_and_option():
    with pytest.raises(ValueError, match=r"method.options.foo: unknown option of method 'dct'"):
        apply_overrides(tiny(), ["method.name=dct", "method.options.foo=1"])
    with pytest.raises(ValueError, match=r"method.options.variant: expected one of 'v1'"):
        apply_overrides(tiny(), ["method.name=dct", "method.options.variant=v9"])
    with pytest.raises(ValueError, match=r"method 'dct': unknown option 'foo'"):
        method("dct").parse_options({"foo": 1})


def test_run_ids_of_the_paper_grid_are_stable():
    # A run id names a folder of results people keep: changing how configs hash must be a
    # deliberate decision, visible here, never a side effect.
    cells = E.main(load_profile("paper", data="/datasets"))
    ids = {(c.dataset, c.cfg.model, c.label, c.seed): c.run_id for c in cells}
    assert ids[("ade20k", "resnet50", "Teacher", 0)] == "resnet50-none-s0-21f854da"
    assert ids[("ade20k", "resnet18", "Baseline", 0)] == "resnet18-none-s0-329aff5d"
    assert ids[("ade20k", "resnet18", "DCT", 0)] == "resnet18-dct-s0-a37e3d86"
