"""The errors a user can cause or meet, and the one line each is shown as.

`ConfigError` is a configuration that cannot train (a bad value, a missing dataset, a store
that cannot be written): the user fixes the input. `RunFailed` is a run that started and
could not finish (a worker crashed, a teacher diverged with no usable checkpoint). The CLI
prints either as one line; `--debug` shows the traceback.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration that cannot train; raised before the first step."""


class RunFailed(RuntimeError):
    """A run that started but could not finish; the message names the run and the cause."""


def one_line(err: BaseException) -> str:
    """`err` as one line: the last line of a re-raised worker traceback, whitespace folded.

    DataLoader workers and process pools re-raise with the whole original traceback in the
    message; its last line is the error that matters.
    """
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if "Traceback (most recent call last)" in text:
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        name, sep, rest = last.partition(": ")
        text = rest if sep and name.isidentifier() and name[:1].isupper() else last
    return " ".join(text.split()) or type(err).__name__


__all__ = ["ConfigError", "RunFailed", "one_line"]
