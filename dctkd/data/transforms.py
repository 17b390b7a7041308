"""Normalisation constants and the two augmentation pipelines of docs/protocol.md#preprocessing.

Scene datasets (ADE20K, SUN397, MIT67, image folders) read files with PIL and go through
torchvision `transforms.v2`: train `Resize(s*256/224)` (shorter side) + `RandomCrop(s)` +
horizontal flip; eval `Resize` + `CenterCrop`. In-memory 32-px datasets (CIFAR-100 and the
synthetic scenes) use `PadCropFlip`, the CIFAR recipe `RandomCrop(32, padding=4)` + flip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:  # imported where a file dataset's pipeline is built: it takes seconds
    from torchvision.transforms import v2

MeanStd = tuple[tuple[float, float, float], tuple[float, float, float]]

# The original code normalises every scene dataset with these and labels them "ImageNet"; they are
# not ImageNet's (they equal torchvision's Kinetics video constants,
# docs/deviations.md#normalisation-constants).
SCENE_MEAN_STD_ORIGINAL: MeanStd = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
IMAGENET_MEAN_STD: MeanStd = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CIFAR100_MEAN_STD: MeanStd = ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
# A fixed map of the synthetic scenes' [0, 1] range to roughly zero mean, unit spread; the
# exact statistics move with k and the distractor count, and a constant keeps runs comparable.
SCENES_MEAN_STD: MeanStd = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))

NORMALIZATIONS: dict[str, MeanStd] = {
    "original": SCENE_MEAN_STD_ORIGINAL,
    "imagenet": IMAGENET_MEAN_STD,
}


def scene_normalization(name: str) -> MeanStd:
    """`"original"` (the paper code's constants, the faithful default) or `"imagenet"`."""
    if name not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {sorted(NORMALIZATIONS)}, got {name!r}")
    return NORMALIZATIONS[name]


def scene_transform(
    train: bool | str, image_size: int = 224, mean_std: MeanStd = SCENE_MEAN_STD_ORIGINAL
) -> v2.Compose:
    """PIL image -> normalised float `(3, image_size, image_size)`; resize side `s*256/224`.

    `train`: True for random crops and flips, `"flip"` for flips of the centre crop only.
    """
    from torchvision.transforms import v2

    resize = round(image_size * 256 / 224)
    crop = v2.RandomCrop(image_size) if train is True else v2.CenterCrop(image_size)
    steps = [v2.Resize(resize, antialias=True), crop]
    if train:
        steps.append(v2.RandomHorizontalFlip())
    steps += [
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(mean_std[0]), list(mean_std[1])),
    ]
    return v2.Compose(steps)


class PadCropFlip:
    """`RandomCrop(H, padding=pad)` + `RandomHorizontalFlip` + `Normalize` on a uint8 `(3, H, W)`.

    Equivalent to the torchvision v2 pipeline with zero padding, written out because it runs
    once per sample in the main process and costs about half as much (~40 us at 32 px), which
    matters next to a resnet8 step of ~0.4 ms per image. `augment=False` only normalises;
    `augment="flip"` only flips (no shift): a shifted crop of a synthetic scene can cut out
    an object that defines its class.
    """

    def __init__(self, mean_std: MeanStd, augment: bool | str, pad: int = 4) -> None:
        self.scale = 1.0 / (255.0 * torch.tensor(mean_std[1]).view(3, 1, 1))
        self.shift = -torch.tensor(mean_std[0]).view(3, 1, 1) / torch.tensor(mean_std[1]).view(
            3, 1, 1
        )
        self.augment = augment
        self.pad = 0 if augment == "flip" else pad

    @property
    def views(self) -> int | None:
        """How many distinct inputs an image can become: 1 un-augmented, 2 under flips only
        (the image and its mirror), None under random crops (too many to enumerate)."""
        return {False: 1, "flip": 2}.get(self.augment)

    def __call__(self, img: Tensor) -> Tensor:
        return self.draw(img)[0]

    def draw(self, img: Tensor) -> tuple[Tensor, int]:
        """The augmented, normalised image and which of the `views` it is (0: as stored,
        1: mirrored; 0 under random crops, whose views are not numbered)."""
        flip = 0
        if self.augment:
            h, w = img.shape[-2:]
            p = self.pad
            side = 2 * p + 1
            r = int(torch.randint(0, 2 * side * side, ()))
            flip, dy, dx = r % 2, (r // 2) % side, r // (2 * side)
            img = torch.nn.functional.pad(img, (p, p, p, p))[:, dy : dy + h, dx : dx + w]
            if flip:
                img = img.flip(-1)
        view = flip if self.augment == "flip" else 0
        return img.float() * self.scale + self.shift, view

    def view(self, img: Tensor, view: int) -> Tensor:
        """View `view` of a stored image, normalised: what `draw` gives when it draws it."""
        return (img.flip(-1) if view else img).float() * self.scale + self.shift
