"""A toy rule family for tests: the whole of what adding a family takes (this module, plus one `register` line).

Shouting: the share of letters that are capitals, and the exclamation marks.
"""

from __future__ import annotations

from pydantic import Field

from quality.rule_family import Rule, RuleFamily, Thresholds


class ToyThresholds(Thresholds):
    max_shout_ratio: float = Field(default=0.5, ge=0, le=1, description="capital letters over all letters")
    max_exclamations: int = Field(default=3, ge=0)


class Toy(RuleFamily):
    name = "toy"
    prefix = "toy"
    thresholds = ToyThresholds
    columns = {"shout_ratio": float, "exclamations": int}
    rules = (Rule("shout_ratio", max="max_shout_ratio"), Rule("exclamations", max="max_exclamations"))

    def signals(self, text: str, words: list[str] | None, lang: str | None, t: ToyThresholds) -> dict:
        letters = [c for c in text if c.isalpha()]
        return {
            "toy_shout_ratio": sum(c.isupper() for c in letters) / len(letters) if letters else 0.0,
            "toy_exclamations": text.count("!"),
        }


FAMILY = Toy()
