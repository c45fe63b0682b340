"""What the importer reports when a module cannot be expressed: every
problem at once, each with where (a module path, `forward`, or `input`) and
what (the op and why)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class ImportFailure(Exception):
    """The module cannot be written as a `network!` declaration; `problems`
    lists every reason found (none is dropped, duplicates are removed)."""

    def __init__(self, problems: list[Problem]) -> None:
        unique: list[Problem] = []
        for p in problems:
            if p not in unique:
                unique.append(p)
        self.problems = unique
        super().__init__(self.report())

    def report(self) -> str:
        n = len(self.problems)
        lines = [f"cannot express this module in constnet ({n} problem{'s' * (n != 1)}):"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)
