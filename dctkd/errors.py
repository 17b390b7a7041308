"""The errors a user can cause or meet, and the one line each is shown as.

`ConfigError` is a configuration that cannot train (a bad value, a missing dataset, a store
that cannot be written): the user fixes the input. `RunFailed` is a run that started and
could not finish (a worker crashed, a teacher diverged with no usable checkpoint). The CLI
prints either as one line; `--debug` shows the traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ConfigError(ValueError):
    """A configuration that cannot train; raised before the first step."""


class RunFailed(RuntimeError):
    """A run that started but could not finish; the message names the run and the cause."""


@dataclass(frozen=True)
class Failure:
    """One run of a batch that did not finish: why, and the log holding its traceback.
    `teacher` is set instead when the run was never started because a run it needs (its
    teacher, or the run its weights start from) failed."""

    run_id: str
    reason: str = ""
    log: str | None = None
    teacher: str | None = None

    def line(self) -> str:
        if self.teacher:
            return f"{self.run_id}: not trained, {self.teacher}, which it needs, failed"
        return f"{self.run_id}: {self.reason}" + (f" (log: {self.log})" if self.log else "")


class RunsFailed(RunFailed):
    """Runs of a batch that failed after the rest were trained (or notebooks left unbuilt).

    The message is one line; `details` lists each run with its reason and log (the CLI prints
    them before the error line; in Python they are the exception's notes). A single failure
    needs no list: its line is the message.
    """

    def __init__(self, failures: Sequence[Failure], notebooks: Sequence[str] = ()):
        self.failures, self.notebooks = list(failures), list(notebooks)
        failed = [f for f in self.failures if not f.teacher]
        untrained = len(self.failures) - len(failed)
        if len(self.failures) == 1 and failed:
            text = f"training {failed[0].line().replace(': ', ' failed: ', 1)}"
            self.details: list[str] = []
        else:
            text = f"{len(failed)} run{'s' * (len(failed) != 1)} failed" + (
                f" and {untrained} {'was' if untrained == 1 else 'were'} not trained (a run "
                "they need failed)" if untrained else "")
            text += ", each listed with its log"
            self.details = [f.line() for f in self.failures]
        if self.notebooks:
            text += f"; notebooks not executed: {', '.join(self.notebooks)}"
        super().__init__(text + "; finished runs are kept and the same command continues")
        self.__notes__ = list(self.details)


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


__all__ = ["ConfigError", "Failure", "RunFailed", "RunsFailed", "one_line"]
