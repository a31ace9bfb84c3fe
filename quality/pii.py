"""PII detection and redaction, with a per-entity policy: redact (default), keep, or reject past a count.

`scan(text)` finds the entities (see `quality.pii_detectors` and
`quality.secrets`); `apply_policies(text, settings)` returns the redacted text,
the count per entity and the rejection, if any. Only counts ever leave this
module: a rejected document is redacted too, and its detail names counts, not
values. Redaction replaces each entity by a placeholder such as `<EMAIL>` and
leaves every other character as it was; placeholders are never detected, so
redacting twice changes nothing.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quality.pii_detectors import (
    DEFAULT_PHONE_REGIONS,
    Span,
    Windows,
    find_cards,
    find_emails,
    find_ibans,
    find_ips,
    find_phones,
    find_ssns,
)
from quality.secrets import find_secrets

# Entity types, in the order they win when two detections overlap: a secret or an
# email can contain digits that look like a phone; a card or IBAN, digits that look like one too.
ENTITIES = ("SECRET", "EMAIL", "IBAN", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PRIVATE_IP", "PHONE")
COLUMNS = {entity: f"pii_{entity.lower()}" for entity in ENTITIES}

Action = Literal["redact", "keep", "reject"]


class EntityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action = Field(default="redact", description="redact: replace by <ENTITY>; keep: count only; reject: see reject_above")
    reject_above: int = Field(
        default=0, ge=0, description="with action reject: a document with more than this many is rejected (and redacted)"
    )


def _policy(value):
    return {"action": value} if isinstance(value, str) else value


class PiiSettings(BaseModel):
    """The `pii` config section: every entity type is redacted by default.

    Each entity key takes a policy mapping or just its action: `email: keep`.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="run the stage")

    email: EntityPolicy = Field(default_factory=EntityPolicy)
    phone: EntityPolicy = Field(default_factory=EntityPolicy)
    ip_address: EntityPolicy = Field(default_factory=EntityPolicy, description="public (globally routed) IPv4/IPv6")
    private_ip: EntityPolicy = Field(default_factory=EntityPolicy, description="private, loopback, link-local, reserved")
    credit_card: EntityPolicy = Field(default_factory=EntityPolicy)
    iban: EntityPolicy = Field(default_factory=EntityPolicy)
    us_ssn: EntityPolicy = Field(default_factory=EntityPolicy)
    secret: EntityPolicy = Field(default_factory=EntityPolicy)
    phone_regions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PHONE_REGIONS),
        description="regions whose national formats are accepted; numbers with + or 00 are checked against their own country",
    )

    @model_validator(mode="before")
    @classmethod
    def _action_shorthand(cls, data):
        if isinstance(data, dict):
            return {k: (_policy(v) if k in COLUMNS_BY_KEY else v) for k, v in data.items()}
        return data

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, regions: list[str]) -> list[str]:
        import phonenumbers

        unknown = sorted(set(regions) - phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"unknown phone regions {unknown}; use ISO 3166 codes such as US, GB, DE")
        return regions

    def policy(self, entity: str) -> EntityPolicy:
        return getattr(self, entity.lower())

    def redacted(self) -> list[str]:
        """The entity keys whose values are replaced in the text: every action but `keep` (`reject` redacts too)."""
        return [key for key in COLUMNS_BY_KEY if self.policy(key).action != "keep"]


COLUMNS_BY_KEY = {entity.lower(): column for entity, column in COLUMNS.items()}


def scan(text: str, phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS, plain: bool = False) -> list[Span]:
    """Every entity in `text`, non-overlapping, sorted by position; overlaps go to the earlier type in ENTITIES.

    The detectors run only where their patterns can match (`Windows`); `plain=True` runs every
    pattern over the whole text instead, the reference that the tests and benchmarks/pii.py compare with.
    """
    where = Windows(text, plain)
    found = find_secrets(where) + find_emails(where) + find_ibans(where) + find_cards(where) + find_ssns(where)
    found += find_ips(where) + find_phones(where, phone_regions)
    rank = {entity: i for i, entity in enumerate(ENTITIES)}
    chosen: list[Span] = []
    for span in sorted(found, key=lambda s: (rank[s.entity], s.start, -(s.end - s.start))):
        if all(span.end <= other.start or span.start >= other.end for other in chosen):
            chosen.append(span)
    return sorted(chosen)


def redact(text: str, spans: list[Span]) -> str:
    """`text` with each span replaced by `<ENTITY>`; spans must not overlap."""
    pieces, last = [], 0
    for span in sorted(spans):
        pieces += [text[last : span.start], f"<{span.entity}>"]
        last = span.end
    pieces.append(text[last:])
    return "".join(pieces)


def apply_policies(text: str, settings: PiiSettings) -> tuple[str, dict[str, int], tuple[str, str] | None]:
    """(text with the redacted entities replaced, {column: count}, rejection or None)."""
    spans = scan(text, tuple(settings.phone_regions))
    counts = {column: 0 for column in COLUMNS.values()}
    for span in spans:
        counts[COLUMNS[span.entity]] += 1
    redacted_keys = settings.redacted()
    redacted = redact(text, [s for s in spans if s.entity.lower() in redacted_keys])
    rejection = None
    for entity in ENTITIES:
        policy, n = settings.policy(entity), counts[COLUMNS[entity]]
        if policy.action == "reject" and n > policy.reject_above:
            detail = json.dumps({column: c for column, c in counts.items() if c}, sort_keys=True)
            rejection = (f"pii:{entity.lower()}", detail)
            break
    return redacted, counts, rejection
