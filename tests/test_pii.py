"""PII detectors: true positives and near misses per type; policies; redaction keeps everything else."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.pii import PiiSettings, apply_policies, redact, scan


def entities(text):
    return [(text[s.start : s.end], s.entity) for s in scan(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        # EMAIL
        ("write to jane.doe+news@mail.example.co.uk today", [("jane.doe+news@mail.example.co.uk", "EMAIL")]),
        ("ping UshurmaDratchev@rhyta.com.", [("UshurmaDratchev@rhyta.com", "EMAIL")]),
        # PHONE: international, national, extensions, French dots
        ("call +1 (415) 555-2671 now", [("+1 (415) 555-2671", "PHONE")]),
        ("office 020 7946 0958", [("020 7946 0958", "PHONE")]),
        ("Fax: 345-899-3560x4587", [("345-899-3560x4587", "PHONE")]),
        ("Desk: +41 (0)96 471 07 95", [("+41 (0)96 471 07 95", "PHONE")]),
        ("Mobile: 03.93.92.16.85", [("03.93.92.16.85", "PHONE")]),
        ("Phone: 0490 75 40 81", [("0490 75 40 81", "PHONE")]),
        # IP_ADDRESS, public and private, v4 and v6
        ("from 8.8.8.8 and 192.168.1.10", [("8.8.8.8", "IP_ADDRESS"), ("192.168.1.10", "PRIVATE_IP")]),
        ("host 2001:4860:4860::8888 up", [("2001:4860:4860::8888", "IP_ADDRESS")]),
        ("loopback ::1 and fe80::1ff:fe23:4567:890a", [("fe80::1ff:fe23:4567:890a", "PRIVATE_IP")]),
        ("d80:e4b5:79da:6cf6:71f3:51f7:9161:c319 logged", [("d80:e4b5:79da:6cf6:71f3:51f7:9161:c319", "IP_ADDRESS")]),
        # CREDIT_CARD (Luhn-valid), grouped and not
        ("card 4111 1111 1111 1111 ok", [("4111 1111 1111 1111", "CREDIT_CARD")]),
        ("amex 347415977307943", [("347415977307943", "CREDIT_CARD")]),
        # IBAN (mod-97), grouped, lower case
        ("IBAN GB82 WEST 1234 5698 7654 32 please", [("GB82 WEST 1234 5698 7654 32", "IBAN")]),
        ("iban gb42nawi04454264788619", [("gb42nawi04454264788619", "IBAN")]),
        ("DE89370400440532013000", [("DE89370400440532013000", "IBAN")]),
        # US_SSN
        ("SSN 460-89-9847", [("460-89-9847", "US_SSN")]),
        ("social security number: 460899847", [("460899847", "US_SSN")]),
        # SECRET: known formats, private keys, high-entropy values after key words
        ("aws AKIAIOSFODNN7EXAMPLE here", [("AKIAIOSFODNN7EXAMPLE", "SECRET")]),
        ("token ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", [("ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "SECRET")]),
        ("slack xoxb-1234567890-abcdefghijkl", [("xoxb-1234567890-abcdefghijkl", "SECRET")]),
        ("key=AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", [("AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "SECRET")]),
        ('password = "Xk9#mP2$vL8qR"', [("Xk9#mP2$vL8qR", "SECRET")]),
        ("client_secret: 8f3kQ9zL2mX7pW4r", [("8f3kQ9zL2mX7pW4r", "SECRET")]),
    ],
)
def test_true_positives(text, expected):
    assert entities(text) == expected


def test_private_key_block_is_one_secret():
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4\nabcDEF123==\n-----END RSA PRIVATE KEY-----"
    text = f"key:\n{block}\nend"
    assert entities(text) == [(block, "SECRET")]
    assert redact(text, scan(text)) == "key:\n<SECRET>\nend"


@pytest.mark.parametrize(
    "text",
    [
        # not emails
        "user@localhost, a@b, @handle, name@domain..com",
        # version numbers and dotted dates are not IPs; neither are times or octets past 255
        "version 1.2.3.4 and v10.0.0.1 and build 4.1.20.7",
        "released 12.05.2020 at 12:30:45; 256.1.1.1 and 1.2.3.999",
        # ISBNs and DOIs are not phones; nor dates, years, prices, short numbers, zip codes
        "ISBN 978-3-16-148410-0 and ISBN-10: 0-306-40615-2 and 978-0-306-40615-7",
        "doi:10.1000/182 and https://doi.org/10.1038/nphys1170 and 10.1093/ajae/aaq063",
        "When: 1993-01-04 14:56:41, 2020-07-31, 31/12/1999, 12.05.2020",
        "It cost 1,299.00 in 2019 and weighs 3 kg; zip 94107; 12345",
        # identifiers after their own labels are not phones
        "My driver's license number is 425700624; order no. 55512345678; Apt. 722 20 40",
        # order numbers that fail Luhn are not cards; nor runs of one digit
        "order 4111 1111 1111 1112, invoice 1234567812345678, 0000 0000 0000 0000",
        # IBAN with a wrong check digit, or an unknown country
        "GB82 WEST 1234 5698 7654 33 and XX82WEST12345698765432",
        # SSN with invalid area, group or serial
        "000-12-3456 666-12-3456 912-12-3456 123-00-4567 123-45-0000",
        # nine bare digits without an SSN label are not SSNs
        "reference 460899847",
        # secrets: low-entropy values, key words without values, near-miss prefixes
        "password: hello, token is required, secret = 'aaaaaaaaaa', AKIA123, ghp_short",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqh\n-----END PUBLIC KEY-----",
    ],
)
def test_near_misses_are_not_detected(text):
    assert entities(text) == []


def test_card_digits_are_not_also_a_phone_and_ssn_is_not_a_phone():
    text = "pay with 4969800024734372 or ssn 054-28-6917"
    assert [e for _, e in entities(text)] == ["CREDIT_CARD", "US_SSN"]


def test_policies_redact_keep_and_reject_with_counts_only():
    text = "Mail a@example.com, b@example.org; call +44 20 7946 0958; card 4111-1111-1111-1111."
    settings = PiiSettings.model_validate({"phone": "keep", "credit_card": {"action": "reject", "reject_above": 0}})
    redacted, counts, rejection = apply_policies(text, settings)
    assert redacted == "Mail <EMAIL>, <EMAIL>; call +44 20 7946 0958; card <CREDIT_CARD>."
    assert counts["pii_email"] == 2 and counts["pii_phone"] == 1 and counts["pii_credit_card"] == 1
    reason, detail = rejection
    assert reason == "pii:credit_card"
    assert json.loads(detail) == {"pii_credit_card": 1, "pii_email": 2, "pii_phone": 1}
    assert "4111" not in detail and "example" not in detail


def test_reject_above_a_count():
    settings = PiiSettings.model_validate({"email": {"action": "reject", "reject_above": 2}})
    assert apply_policies("a@x.com b@x.com", settings)[2] is None
    assert apply_policies("a@x.com b@x.com c@x.com", settings)[2][0] == "pii:email"


def test_unknown_keys_and_regions_are_errors():
    with pytest.raises(ValueError, match="emial"):
        PiiSettings.model_validate({"emial": "keep"})
    with pytest.raises(ValueError, match="unknown phone regions"):
        PiiSettings.model_validate({"phone_regions": ["XX"]})


ENTITY_SAMPLES = ["jane@example.com", "+1 415 555 2671", "8.8.8.8", "10.0.0.7", "4111 1111 1111 1111",
                  "GB82WEST12345698765432", "460-89-9847", "AKIAIOSFODNN7EXAMPLE"]
# Filler that cannot form an entity: letters, spaces and punctuation without @, digits or colons.
filler = st.text(alphabet="abcdefghij KLMNOP,;!?\n\t'\"()éü中", max_size=30).map(lambda s: f" {s} ")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(filler, st.sampled_from(ENTITY_SAMPLES)), max_size=6), filler)
def test_redaction_is_idempotent_and_keeps_the_rest_byte_for_byte(parts, tail):
    text = "".join(f + e for f, e in parts) + tail
    redacted, counts, _ = apply_policies(text, PiiSettings())
    assert sum(counts.values()) == len(parts)
    expected = "".join(f + f"<{entity}>" for (f, _), (_, entity) in zip(parts, [entities(e)[0] for _, e in parts])) + tail
    assert redacted == expected
    again, again_counts, _ = apply_policies(redacted, PiiSettings())
    assert again == redacted and sum(again_counts.values()) == 0


def test_recall_and_precision_on_the_labelled_corpus(corpora, repo):
    """The benchmark's targets on the real labelled data (pure Python, about a second)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_pii", repo / "benchmarks" / "pii.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.evaluate("gristmill", bench.gristmill_detect, bench.load(corpora / "pii"))
    for kind, figures in result["per_type"].items():
        assert figures["recall"] >= bench.TARGET_RECALL[kind], (kind, figures)
        assert figures["precision"] >= bench.TARGET_PRECISION, (kind, figures)
