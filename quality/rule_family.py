"""The one protocol every rule family (Gopher repetition and quality, C4, FineWeb) follows.

A family is a `RuleFamily` subclass that declares:

- `name`: its key under the `quality:` config section and the stage of its
  rejection reasons, `<name>:<rule>`;
- `prefix`: its columns are named `<prefix>_<signal>`;
- `thresholds`: its settings model, a `Thresholds` (with `enabled` and its default);
- `columns`: signal -> Python type (int or float), in column order; the Arrow
  schema's columns are derived from it (`pipelines.schema`);
- `rules`: in judging order, each a signal and the thresholds that bound it
  from below and above; the default `judge` and the report's expectations
  (`quality.report.suite`) both come from them;

and implements `signals(text, words, lang, t) -> dict`, one value per column;
`apply` (signals, judge, rewrite) is what the chain calls for each family.
A family whose decisions are not bounds alone adds working values to that dict
(keys that are not its columns; only the columns are stored) and reads them in
its own `judge`; a family that changes the text (C4) returns the new text from
`rewrite`. The chain and its order are `quality.rule_chain`.
"""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

Rejection = tuple[str, str] | None


class Thresholds(BaseModel):
    """A family's thresholds; unknown keys are errors, as everywhere in the config."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="run the family")


class Rule(NamedTuple):
    """Reject when the signal is below `t.<min>` or above `t.<max>` (threshold keys; either may be absent).

    A null signal (a rule that does not apply, e.g. no stop-word list for the
    language) passes. `name` is the rule in the rejection reason; default: the signal.
    """

    signal: str
    min: str | None = None
    max: str | None = None
    name: str | None = None


class Bound(NamedTuple):
    """A threshold that bounds a column of the kept documents: column >= threshold (`min`) or <= (`max`)."""

    threshold: str
    column: str
    side: Literal["min", "max"]


class RuleFamily:
    """See the module docstring; subclasses set the class attributes and implement `signals`."""

    name: ClassVar[str]
    prefix: ClassVar[str]
    thresholds: ClassVar[type[Thresholds]]
    columns: ClassVar[dict[str, type]]
    rules: ClassVar[tuple[Rule, ...]] = ()

    def column(self, signal: str) -> str:
        return f"{self.prefix}_{signal}"

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(self.column(signal) for signal in self.columns)

    @cached_property
    def _checks(self) -> tuple[tuple[str, str | None, str | None, str], ...]:
        return tuple(
            (self.column(r.signal), r.min, r.max, f"{self.name}:{r.name or r.signal}") for r in self.rules
        )

    def bounds(self) -> list[Bound]:
        """Which threshold bounds which column, in rule order, as the report checks them."""
        out = []
        for column, low, high, _ in self._checks:
            out += [Bound(low, column, "min")] if low else []
            out += [Bound(high, column, "max")] if high else []
        return out

    def signals(self, text: str, words: list[str] | None, lang: str | None, t: Thresholds) -> dict:
        """One value per column (and any working values); `words` is `text` split, or None to split it here."""
        raise NotImplementedError

    def judge(self, signals: dict, t: Thresholds) -> Rejection:
        """The first rule whose bound the signal crosses: (`<name>:<rule>`, the value), or None."""
        for column, low, high, reason in self._checks:
            value = signals[column]
            if value is None:
                continue
            if (low and value < getattr(t, low)) or (high and value > getattr(t, high)):
                return reason, detail(value)
        return None

    def rewrite(self, text: str, signals: dict) -> str:
        """The text the later families see and the dataset stores, when this family keeps the document."""
        return text

    def apply(self, text: str, words: list[str] | None, lang: str | None, t: Thresholds) -> tuple[str, dict, Rejection]:
        """(the text as this family leaves it, its columns, rejection or None); a rejected text is unchanged."""
        signals = self.signals(text, words, lang, t)
        rejection = self.judge(signals, t)
        columns = {column: signals[column] for column in self.column_names}
        return (text if rejection else self.rewrite(text, signals)), columns, rejection


def detail(value) -> str:
    """A signal as rejection detail: floats with 4 significant digits, the rest as is."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
