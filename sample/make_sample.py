"""Build the embedded sample corpus from the hand-written prose in sample/prose/.

Documents are assembled from paragraphs written for this project (topic pools,
several languages), spread over every input format gristmill reads, and then
the planted problems are added: exact and near duplicates, boilerplate and
low-quality pages, PII, identity terms for the bias screen, and malformed
records. Everything is deterministic from SEED, so running this again gives
byte-identical files (tests/test_sample_corpus.py checks that).

    .venv/bin/python sample/make_sample.py [--out DIR]

Writes the corpus files, `planted.json` (machine-readable list of planted
problems and the expected language of every good document) and `README.md`.
"""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import json
import random
import re
import unicodedata
import uuid
from pathlib import Path

import ftfy
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from fastwarc.warc import WarcRecord, WarcRecordType

SEED = 20261123
HERE = Path(__file__).resolve().parent
PROSE = HERE / "prose"
WORD = re.compile(r"\w+")

# Which sources each English topic's documents go to, in turn.
EN_TOPICS = {
    "cooking": ["web", "lines", "forum"],
    "tech_history": ["wiki", "news"],
    "travel": ["web", "forum"],
    "gardening": ["forum", "web", "lines"],
    "astronomy": ["wiki", "web"],
    "local_news": ["news"],
    "reviews": ["lines", "web"],
    "programming": ["forum", "web"],
    "health": ["web", "news"],
    "finance": ["web", "news"],
}
OTHER_SOURCES = {
    "fr": ["wiki", "news", "web", "lines"],
    "de": ["news", "wiki", "lines", "web"],
    "es": ["web", "forum", "wiki"],
    "pt": ["web"],
    "nl": ["web"],
    "it": ["web"],
    "ja": ["forum"],
    "zh": ["forum"],
}
DOMAINS = ["example-kitchen.net", "slowtravel.example.org", "gardenpath.example.com", "stargazers.example.net",
           "reviewdesk.example.com", "codenotes.example.dev", "fitdaily.example.org", "moneysense.example.com"]


# ----------------------------------------------------------------------------- prose


def read_pool(path: Path) -> tuple[list[str], list[str]]:
    titles, paragraphs = [], []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        titles += [line[len("title: "):] for line in lines if line.startswith("title: ")]
        body = [line for line in lines if not line.startswith(("title: ", "lang: "))]
        if body:
            paragraphs.append(" ".join(body))
    return titles, paragraphs


def read_other_languages(path: Path) -> dict[str, tuple[list[str], list[str]]]:
    pools, current = {}, None
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        for line in block.strip().splitlines():
            if line.startswith("lang: "):
                current = line[len("lang: "):]
                pools[current] = ([], [])
            elif line.startswith("title: "):
                pools[current][0].append(line[len("title: "):])
        body = [l for l in block.strip().splitlines() if l.strip() and not l.startswith(("title: ", "lang: "))]
        if body:
            pools[current][1].append(" ".join(body))
    return pools


def pick_subsets(rng: random.Random, n_items: int, n_sets: int, sizes: tuple[int, int], max_overlap: int):
    """n_sets index subsets (sizes in range) whose pairwise overlap is at most max_overlap."""
    chosen: list[list[int]] = []
    for _ in range(20_000):
        if len(chosen) == n_sets:
            return chosen
        candidate = rng.sample(range(n_items), rng.randint(*sizes))
        if all(len(set(candidate) & set(c)) <= max_overlap for c in chosen):
            chosen.append(candidate)
    raise RuntimeError(f"could not pick {n_sets} subsets of {n_items} paragraphs with overlap <= {max_overlap}")


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = [w.lower() for w in WORD.findall(text)]
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def make_docs(rng: random.Random) -> list[dict]:
    """Good documents: {lang, topic, title, paragraphs, source}."""
    docs = []
    for topic, sources in EN_TOPICS.items():
        titles, paragraphs = read_pool(PROSE / f"en_{topic}.txt")
        subsets = pick_subsets(rng, len(paragraphs), len(titles), (5, 6), 3)
        for i, (title, subset) in enumerate(zip(titles, subsets)):
            docs.append({"lang": "en", "topic": topic, "title": title,
                         "paragraphs": [paragraphs[j] for j in subset], "source": sources[i % len(sources)]})
    for lang in ("fr", "de", "es"):
        titles, paragraphs = read_pool(PROSE / f"{lang}_mixed.txt")
        subsets = pick_subsets(rng, len(paragraphs), 8, (3, 3), 1)
        for i, subset in enumerate(subsets):
            docs.append({"lang": lang, "topic": "mixed", "title": titles[i],
                         "paragraphs": [paragraphs[j] for j in subset],
                         "source": OTHER_SOURCES[lang][i % len(OTHER_SOURCES[lang])]})
    for lang, (titles, paragraphs) in read_other_languages(PROSE / "xx_other.txt").items():
        for i, title in enumerate(titles):
            docs.append({"lang": lang, "topic": "mixed", "title": title,
                         "paragraphs": paragraphs[2 * i:2 * i + 2], "source": OTHER_SOURCES[lang][0]})
    return docs


def doc_text(doc: dict) -> str:
    return doc["title"] + "\n\n" + "\n\n".join(doc["paragraphs"])


# ----------------------------------------------------------------------------- planted texts

PII_PARAGRAPHS = {
    "contact": (
        "If you have questions about the workshop, write to Maria Keller at maria.keller@example.com or call "
        "her on +1 202-555-0143 between nine and five. Our booking server logs every request from addresses such "
        "as 93.184.216.34 and, inside the office network, 192.168.1.24, and we delete those logs after thirty days."
    ),
    "order": (
        "Your order has been confirmed. The payment was taken from the card 4111 1111 1111 1111, and your order "
        "number is 4111 2222 3333 4440, which you should quote in any message to us. For the tax form we still "
        "need the social security number you gave on the phone, 536-22-8741, to be confirmed in writing."
    ),
    "support": (
        "I checked the firewall logs and the failed connections come from 2a01:4f8:c17:1d2::1, which is outside "
        "our network, while the internal service listens on fd12:3456:789a:1::1. Somebody also pasted the key "
        "AKIAIOSFODNN7EXAMPLE and a token that looks like {github_token} into the public channel, so both have "
        "been revoked and replaced this morning."
    ),
    "de_bank": (
        "Spenden für die Renovierung nehmen wir gern auf unser Vereinskonto mit der IBAN DE89 3704 0044 0532 0130 00 "
        "entgegen. Fragen beantwortet unser Kassenwart Jürgen Albers telefonisch unter +49 30 90182736 oder per "
        "E-Mail an kasse@heimatverein-beispiel.de."
    ),
    "fr_contact": (
        "Pour participer à l'atelier, il suffit d'écrire à Claire Dubois à l'adresse claire.dubois@exemple.fr ou "
        "de l'appeler au +33 1 42 68 53 07. Les dons peuvent être versés sur le compte FR76 3000 6000 0112 3456 7890 189."
    ),
    "uk_bank": (
        "Members who prefer to pay by transfer can send the annual fee to the club account, IBAN "
        "GB82 WEST 1234 5698 7654 32, and email the treasurer at treasurer@riverside-club.example.org or phone "
        "him on +44 20 7946 0958 so that he can match the payment to your name."
    ),
}

BIAS_TEXTS = {
    "festival": (
        "Community Festival Brings the Whole Town Together\n\n"
        "More than three thousand people attended the community festival in the park on Saturday. The organising "
        "committee included members of the mosque, the synagogue, the Catholic parish and the Sikh gurdwara, who "
        "have run the event together for eight years. Stalls offered food from Turkish, Nigerian, Polish and "
        "Vietnamese families who have made the town their home.\n\n"
        "This year the organisers worked with a disability charity to make every part of the festival accessible. "
        "Paths were laid for wheelchair users, a quiet tent was set up for autistic children and adults who found "
        "the crowds overwhelming, and sign language interpreters stood beside the main stage. Several deaf and "
        "blind visitors said it was the first festival where they had felt fully included.\n\n"
        "The evening concert featured a gospel choir from the Black Methodist church, a women's drumming group and "
        "a band formed by gay and lesbian musicians from the local arts centre. Older residents and teenagers "
        "danced side by side until the last song. The committee thanked the volunteers, many of them refugees and "
        "pensioners, who stayed late to clear the park."
    ),
    "stereotypes": (
        "What the Numbers Say About Old Prejudices\n\n"
        "A reader wrote to us last week insisting that women are too emotional to lead companies, that immigrants "
        "are lazy and that old people cannot learn new technology. These claims are repeated so often that many "
        "people assume they must contain some truth. We decided to look at the evidence instead of arguing.\n\n"
        "Studies of company performance find no sign that firms led by women do worse, and several find the "
        "opposite. Immigrants in our region are more likely than the average resident to run a small business, "
        "and they work longer hours on average. The fastest growing group of new internet users in the last "
        "census was people over seventy, many of whom learned to make video calls to reach their grandchildren.\n\n"
        "Stereotypes about Muslims, Jews, Christians, atheists, disabled people or any other group survive because "
        "they are simple, not because they are accurate. The honest answer to such claims is usually to ask for "
        "the data, and then to look at it carefully together. Our reader has promised to respond, and we will "
        "publish the reply."
    ),
}

LOW_QUALITY = {
    "cookie_notice": (
        "We value your privacy\n\nThis website uses cookies to improve your experience. By clicking Accept all, "
        "you agree to the storing of cookies on your device to enhance site navigation, analyse site usage and "
        "assist in our marketing efforts. See our Cookie Policy and Privacy Policy for more information.\n\n"
        "Accept all\nReject all\nManage preferences"
    ),
    "nav_menu": "\n".join(
        ["Home", "About us", "Products", "Services", "Blog", "Careers", "Contact", "Login", "Register",
         "Cart (0)", "Search", "English", "Deutsch", "Français", "Sitemap", "Help", "FAQ", "Store locator"]
    ),
    "lorem_ipsum": (
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
        "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex "
        "ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
        "fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt "
        "mollit anim id est laborum.\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit. Integer nec odio. "
        "Praesent libero. Sed cursus ante dapibus diam. Sed nisi. Nulla quis sem at nibh elementum imperdiet."
    ),
    "keyword_spam": " ".join(
        ["cheap flights", "best cheap flights", "cheap flights today", "flights cheap", "cheap hotel deals",
         "cheap flights cheap hotels", "buy cheap flights online", "cheapest flights"] * 12
    ),
    "repeated_lines": "\n".join(["Click here to claim your free gift card now!"] * 40),
    "very_short": "Page not found.",
    "symbols_numbers": "\n".join(
        "#### $$$ %%% 0x3F 12.5 | 44 | 908 | -- ** || >> << ## 7781 ~~ @@ 3.14159 ++ ==" for _ in range(25)
    ),
}

BOILERPLATE_LINES = ("Posted in Gardening | 4 comments | Share this post",
                     "Subscribe to our newsletter for more tips like this every week.\n"
                     "Related posts: Ten tips for a tidy shed | Our readers' favourite soups | Five walks near the coast")

# Light word substitutions for near-duplicates: common words swapped for near-synonyms.
SUBSTITUTIONS = {"large": "big", "small": "little", "quickly": "fast", "simple": "plain", "often": "frequently",
                 "begin": "start", "began": "started", "little": "small", "first": "earliest", "good": "fine",
                 "every": "each", "long": "lengthy", "much": "a lot", "people": "folks", "quiet": "calm",
                 "found": "discovered", "whole": "entire", "years": "seasons", "week": "fortnight"}


def substitute_words(text: str, n: int, rng: random.Random) -> str:
    """Change n words (near-synonym swaps) at deterministic positions."""
    tokens = re.split(r"(\W+)", text)
    positions = [i for i, t in enumerate(tokens) if t.lower() in SUBSTITUTIONS]
    for i in sorted(rng.sample(positions, min(n, len(positions)))):
        tokens[i] = SUBSTITUTIONS[tokens[i].lower()]
    return "".join(tokens)


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


# ----------------------------------------------------------------------------- writers


def html_page(title: str, paragraphs: list[str], lang: str, site: str, charset: str = "utf-8") -> str:
    nav = "".join(f'<li><a href="/{s.lower()}">{s}</a></li>' for s in ("Home", "Recipes", "Travel", "Garden", "About"))
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="{charset}">
<title>{title} | {site}</title>
<script>window.dataLayer = window.dataLayer || []; function track(e) {{ dataLayer.push(e); }}</script>
<style>body {{ font-family: serif; }} nav li {{ display: inline; }}</style>
</head>
<body>
<header><a class="logo" href="/">{site}</a><nav><ul>{nav}</ul></nav>
<form action="/search"><input name="q" placeholder="Search"><button>Go</button></form></header>
<main>
<article>
<h1>{title}</h1>
<p class="byline">Published on 12 March 2026</p>
{body}
</article>
<aside><h2>Popular this week</h2><ul><li><a href="/a">Ten tips for a tidy shed</a></li>
<li><a href="/b">Our readers' favourite soups</a></li><li><a href="/c">Five walks near the coast</a></li></ul></aside>
</main>
<footer><p>&copy; 2026 {site}. All rights reserved.</p>
<p><a href="/privacy">Privacy</a> &middot; <a href="/imprint">Imprint</a> &middot; <a href="/contact">Contact</a></p>
<div class="cookie-banner">We use cookies to give you the best experience. <button>OK</button></div></footer>
</body>
</html>
"""


def warc_record(rng: random.Random, record_type, headers: dict[str, str], payload: bytes) -> bytes:
    record = WarcRecord()
    record.init_headers(record_type, f"uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}".encode())
    record.headers["WARC-Date"] = "2026-03-14T09:30:00Z"
    for key, value in headers.items():
        record.headers[key] = value
    record.set_bytes_content(payload)
    out = io.BytesIO()
    record.write(out)
    return gzip.compress(out.getvalue(), mtime=0)  # one gzip member per record, as crawlers write them


def http_response(body: bytes, content_type: str, status: str = "200 OK") -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Server: nginx\r\nDate: Sat, 14 Mar 2026 09:30:00 GMT\r\n\r\n")
    return head.encode("ascii") + body


TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


# ----------------------------------------------------------------------------- build


def build(out: Path) -> dict:
    rng = random.Random(SEED)
    docs = make_docs(rng)
    rng.shuffle(docs)

    # HTML pages and WARC responses take a few documents out of the pools.
    html_docs = [d for d in docs if d["lang"] == "en" and d["topic"] in ("travel", "gardening", "cooking")][:4]
    html_docs += [d for d in docs if d["lang"] == "de"][:1]
    warc_docs = [d for d in docs if d["lang"] == "en" and d["topic"] in ("astronomy", "reviews") and
                 d not in html_docs][:3]
    warc_docs += [d for d in docs if d["lang"] == "fr" and d not in html_docs][:1]
    taken = {id(d) for d in html_docs + warc_docs}
    by_source: dict[str, list[dict]] = {s: [] for s in ("web", "news", "forum", "wiki", "lines")}
    for d in docs:
        if id(d) not in taken:
            by_source[d["source"]].append(d)
    # Book files are their own texts (one document per file).
    book_paths = sorted((PROSE / "books").glob("*.txt"))

    planted: list[dict] = []
    languages: dict[str, str] = {}
    good_texts: dict[str, str] = {}  # key -> text, to check that unplanned pairs are far apart

    def add_good(key: str, lang: str, text: str) -> None:
        languages[key] = lang
        good_texts[key] = text

    # ---------------------------------------------------------------- records per JSON-like source
    records: dict[str, list[dict]] = {s: [] for s in ("web", "news", "forum", "wiki")}
    counters = {s: itertools.count(1) for s in records}
    prefixes = {"web": "web", "news": "news", "forum": "forum", "wiki": "wiki"}

    def next_id(source: str) -> str:
        return f"{prefixes[source]}-{next(counters[source]):04d}"

    def slug(title: str) -> str:
        return re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", title).encode("ascii", "ignore")
                      .decode().lower()).strip("-")[:60] or "page"

    def make_record(source: str, text, title: str, lang: str | None, *, rid: str | None = None) -> dict:
        rid = rid or next_id(source)
        if source == "web":
            domain = DOMAINS[int(rid[-4:]) % len(DOMAINS)]
            return {"id": rid, "text": text, "url": f"https://{domain}/{slug(title)}",
                    "fetched_at": f"2026-03-{1 + int(rid[-4:]) % 28:02d}T08:00:00Z", "domain": domain,
                    "tags": sorted({title.split()[0].lower(), "sample"})}
        if source == "news":
            return {"id": rid, "text": text, "url": f"https://news.example.org/{rid}/{slug(title)}",
                    "published": f"2026-02-{1 + int(rid[-4:]) % 28:02d}", "section": "local",
                    "author": ["A. Fielding", "R. Osei", "M. Brandt", "L. Moreau"][int(rid[-4:]) % 4]}
        if source == "forum":
            return {"post_id": rid, "body": text, "thread_url": f"https://forum.example.net/t/{slug(title)}",
                    "user": f"user{int(rid[-4:]) * 37 % 1000:03d}", "score": int(rid[-4:]) * 7 % 50,
                    "replies": int(rid[-4:]) % 9}
        return {"id": rid, "title": title, "text": text,
                "url": f"https://wiki.example.org/{lang or 'en'}/{slug(title)}", "wiki": f"{lang or 'en'}wiki",
                "revision": 1000 + int(rid[-4:])}

    for source in records:
        for d in by_source[source]:
            rec = make_record(source, doc_text(d), d["title"], d["lang"])
            records[source].append(rec)
            d["id"] = rec.get("id") or rec["post_id"]
            add_good(d["id"], d["lang"], doc_text(d))

    def first(source: str, lang: str, exclude=()) -> dict:
        return next(d for d in by_source[source] if d["lang"] == lang and d["id"] not in exclude)

    used: set[str] = set()

    def plant_copy(target: str, text: str, title: str, lang: str) -> str:
        rec = make_record(target, text, title, lang)
        records[target].append(rec)
        return rec.get("id") or rec["post_id"]

    # Exact duplicates (identical before or after normalization).
    a = first("web", "en"); used.add(a["id"])
    b = plant_copy("news", doc_text(a), a["title"], "en")
    planted.append({"kind": "exact_duplicate", "variant": "identical text in two sources", "ids": [a["id"], b]})
    a = first("web", "en", used); used.add(a["id"])
    b = plant_copy("web", doc_text(a), a["title"], "en")
    planted.append({"kind": "exact_duplicate", "variant": "identical text twice in one file (re-crawl)",
                    "ids": [a["id"], b]})
    a = first("wiki", "fr"); used.add(a["id"])
    nfd = unicodedata.normalize("NFD", doc_text(a))
    assert nfd != doc_text(a)
    b = plant_copy("web", nfd, a["title"], "fr")
    planted.append({"kind": "exact_duplicate", "variant": "NFD accents; identical after Unicode NFC",
                    "ids": [a["id"], b]})
    a = next(d for d in by_source["web"] + by_source["wiki"] if d["lang"] == "es" and d["id"] not in used)
    used.add(a["id"])
    mojibake = doc_text(a).encode("utf-8").decode("cp1252")
    assert ftfy.fix_text(mojibake) == doc_text(a), "mojibake copy must be repaired exactly by ftfy"
    b = plant_copy("forum", mojibake, a["title"], "es")
    planted.append({"kind": "exact_duplicate", "variant": "UTF-8 read as cp1252 (mojibake); identical after ftfy",
                    "ids": [a["id"], b]})
    a = first("web", "en", used); used.add(a["id"])
    spaced = "\n\n".join(
        "  " + p.replace(". ", ".  ").replace(", ", ",  ") + "   " for p in doc_text(a).split("\n\n")
    ) + "\n\n\n"
    b = plant_copy("forum", spaced, a["title"], "en")
    planted.append({"kind": "exact_duplicate",
                    "variant": "extra spaces after punctuation, leading/trailing spaces, trailing blank lines; "
                               "identical after whitespace normalization", "ids": [a["id"], b]})

    # Near-duplicates (5-word shingle Jaccard recorded; all in 0.8..0.95).
    def plant_near(variant: str, base_id: str, base_text: str, copy_text: str, target: str, title: str,
                   lang: str = "en") -> str:
        j = jaccard(base_text, copy_text)
        assert 0.8 <= j <= 0.95, f"{variant}: Jaccard {j:.3f} outside 0.8..0.95"
        cid = plant_copy(target, copy_text, title, lang)
        planted.append({"kind": "near_duplicate", "variant": variant, "ids": [base_id, cid],
                        "jaccard_5gram": round(j, 3)})
        return cid

    a = first("web", "en", used); used.add(a["id"])
    plant_near("a few words changed", a["id"], doc_text(a), substitute_words(doc_text(a), 5, rng), "forum",
               a["title"])
    a = first("news", "en", used); used.add(a["id"])
    moved = [a["title"]] + a["paragraphs"][1:] + a["paragraphs"][:1]
    plant_near("first paragraph moved to the end, two words changed", a["id"], doc_text(a),
               substitute_words("\n\n".join(moved), 2, rng), "web", a["title"])
    a = first("forum", "en", used); used.add(a["id"])
    boiler = BOILERPLATE_LINES[0] + "\n\n" + doc_text(a) + "\n\n" + BOILERPLATE_LINES[1]
    plant_near("boilerplate lines added above and below", a["id"], doc_text(a), boiler, "web", a["title"])
    # A transitive chain: A ~ B ~ C, where C is further from A than from B.
    a = first("wiki", "en", used); used.add(a["id"])
    text_b = substitute_words(doc_text(a), 4, rng)
    b = plant_near("chain step 1: four words changed", a["id"], doc_text(a), text_b, "news", a["title"])
    text_c = text_b + "\n\nThis article was last revised in March after readers suggested several corrections."
    c_text = substitute_words(text_c, 3, rng)
    c = plant_near("chain step 2: sentence added and three more words changed", b, text_b, c_text, "forum",
                   a["title"])
    planted.append({"kind": "near_duplicate_chain", "variant": "one cluster of three through transitivity",
                    "ids": [a["id"], b, c], "jaccard_5gram_first_last": round(jaccard(doc_text(a), c_text), 3)})

    # Low-quality and boilerplate pages.
    for name, text in LOW_QUALITY.items():
        rid = plant_copy("web", text, name.replace("_", " ").title(), None)
        planted.append({"kind": "low_quality", "variant": name, "ids": [rid]})

    # PII: real prose with one planted paragraph of (fake) personal data.
    gh_token = "ghp_" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                                for _ in range(36))
    assert luhn_ok("4111 1111 1111 1111") and not luhn_ok("4111 2222 3333 4440")
    pii_targets = [("contact", "web", "en", ["email", "phone", "ipv4_public", "ipv4_private"]),
                   ("order", "web", "en", ["credit_card", "order_number_not_luhn", "us_ssn"]),
                   ("support", "forum", "en", ["ipv6_public", "ipv6_private", "aws_access_key", "github_token"]),
                   ("de_bank", "news", "de", ["iban", "phone", "email"]),
                   ("fr_contact", "web", "fr", ["email", "phone", "iban"]),
                   ("uk_bank", "news", "en", ["iban", "email", "phone"])]
    for name, source, lang, entities in pii_targets:
        pool = [d for d in by_source[source] if d["lang"] == lang and d["id"] not in used]
        d = pool[0]
        used.add(d["id"])
        paragraph = PII_PARAGRAPHS[name].format(github_token=gh_token)
        d["paragraphs"].insert(len(d["paragraphs"]) // 2, paragraph)
        rec = next(r for r in records[source] if (r.get("id") or r.get("post_id")) == d["id"])
        rec["body" if source == "forum" else "text"] = doc_text(d)
        good_texts[d["id"]] = doc_text(d)
        planted.append({"kind": "pii", "variant": name, "ids": [d["id"]], "entities": entities,
                        "strings": re.findall(r"\S+@\S+\w|AKIA\w+|ghp_\w+", paragraph)})

    # Identity terms for the bias screen.
    for name, source in (("festival", "news"), ("stereotypes", "web")):
        rid = plant_copy(source, BIAS_TEXTS[name], BIAS_TEXTS[name].split("\n")[0], "en")
        add_good(rid, "en", BIAS_TEXTS[name])
        planted.append({"kind": "bias_terms", "variant": name, "ids": [rid]})

    # ---------------------------------------------------------------- write the files
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}

    # web.jsonl, with malformed lines at fixed places.
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in records["web"]]
    malformed = [
        ("broken_json", b'{"id": "web-bad-json", "text": "This line is cut off in the middle of a str'),
        ("invalid_utf8", b'{"id": "web-bad-utf8", "text": "Caf\xe9 au lait \xff\xfe costs two euros."}'),
        ("missing_text", json.dumps({"id": "web-no-text", "url": "https://example.org/no-text",
                                     "body": "The text is under the wrong key."}).encode()),
        ("text_not_string", json.dumps({"id": "web-text-number", "text": 12345, "url": None}).encode()),
        ("text_is_list", json.dumps({"id": "web-text-list", "text": ["a", "list"], "url": None}).encode()),
        ("empty_text", json.dumps({"id": "web-empty", "text": "", "url": "https://example.org/empty"}).encode()),
        ("nul_byte", json.dumps({"id": "web-nul", "text": "A short note with a NUL\u0000 byte inside it, "
                                 "written by a broken exporter that did not escape its buffers properly."}).encode()),
    ]
    positions = sorted(rng.sample(range(5, len(lines)), len(malformed)))
    for offset, ((name, raw), pos) in enumerate(zip(malformed, positions)):
        lines.insert(pos + offset, raw)
    bad_lines = {name: lines.index(raw) + 1 for name, raw in malformed}
    for name, raw in malformed:
        parsed_id = [] if name in ("broken_json", "invalid_utf8") else [json.loads(raw)["id"]]
        planted.append({"kind": "malformed", "variant": name, "file": "web.jsonl", "line": bad_lines[name],
                        "ids": parsed_id})
    (out / "web.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    files["web.jsonl"] = {"records": len(lines), "format": "jsonl"}

    news = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records["news"]).encode()
    (out / "news.jsonl.gz").write_bytes(gzip.compress(news, mtime=0))
    files["news.jsonl.gz"] = {"records": len(records["news"]), "format": "jsonl (gzip)"}

    forum_lines = [json.dumps(r, ensure_ascii=False) for r in records["forum"]]
    forum_lines.append('{"post_id": "forum-truncated", "body": "The export stopped half way through this rec')
    planted.append({"kind": "malformed", "variant": "truncated_last_line", "file": "forum.jsonl.zst",
                    "line": len(forum_lines), "ids": []})
    forum = ("\n".join(forum_lines) + "\n").encode()
    (out / "forum.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(forum))
    files["forum.jsonl.zst"] = {"records": len(forum_lines), "format": "jsonl (zstd); text field `body`, "
                                "id field `post_id`, url field `thread_url`"}

    wiki = records["wiki"] + [{"id": "wiki-null-text", "title": "Empty stub", "text": None,
                               "url": "https://wiki.example.org/en/empty-stub", "wiki": "enwiki", "revision": 1}]
    planted.append({"kind": "malformed", "variant": "null_text", "file": "wiki.parquet", "ids": ["wiki-null-text"]})
    table = pa.Table.from_pylist(wiki, schema=pa.schema([
        ("id", pa.string()), ("title", pa.string()), ("text", pa.string()), ("url", pa.string()),
        ("wiki", pa.string()), ("revision", pa.int64())]))
    pq.write_table(table, out / "wiki.parquet", row_group_size=10, compression="zstd")
    files["wiki.parquet"] = {"records": table.num_rows, "format": "parquet, row groups of 10"}

    # lines.txt: one document per line (paragraph breaks become spaces), plus low-quality lines.
    line_docs = [d["title"] + ". " + " ".join(d["paragraphs"]) for d in by_source["lines"]]
    junk = ["Click here to subscribe!!!", "12345 67890 12345 67890", "Home | About | Contact | Login"]
    for j, text in enumerate(junk):
        line_docs.insert(3 + 5 * j, text)
    for n, text in enumerate(line_docs, 1):
        if text in junk:
            planted.append({"kind": "low_quality", "variant": "short junk line", "file": "lines.txt", "line": n,
                            "ids": []})
        else:
            lang = next(d["lang"] for d in by_source["lines"] if text.startswith(d["title"] + ". "))
            add_good(f"lines.txt:{n}", lang, text)
    (out / "lines.txt").write_text("\n".join(line_docs) + "\n", encoding="utf-8")
    files["lines.txt"] = {"records": len(line_docs), "format": "text, one document per line (text_mode: line)"}

    # books/: one document per file; one file with a UTF-8 BOM and CRLF line ends.
    (out / "books").mkdir(exist_ok=True)
    for path in book_paths:
        text = path.read_text(encoding="utf-8")
        data = text.encode("utf-8")
        if path.stem == "workshop_notes":
            data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")
        (out / "books" / path.name).write_bytes(data)
        add_good(f"books/{path.name}", "fr" if path.stem == "le_voyageur" else "en", text)
    files["books/"] = {"records": len(book_paths), "format": "text, one document per file; "
                       "workshop_notes.txt has a UTF-8 BOM and CRLF line ends"}

    # pages/: HTML with navigation, sidebar, footer and cookie banner around the article.
    (out / "pages").mkdir(exist_ok=True)
    for stale in (out / "pages").glob("*.html"):  # page names follow the titles; drop those of earlier runs
        stale.unlink()
    for d in html_docs:
        name = f"pages/{d['lang']}-{slug(d['title'])[:40]}.html"
        charset = "windows-1252" if d["lang"] == "de" else "utf-8"
        page = html_page(d["title"], d["paragraphs"], d["lang"], "Hearth & Field", charset)
        (out / name).write_bytes(page.encode(charset))
        add_good(name, d["lang"], doc_text(d))
        d["file"] = name
    files["pages/"] = {"records": len(html_docs), "format": "HTML; the German page is windows-1252 encoded "
                       "(declared in its meta charset)"}

    # crawl.warc.gz: warcinfo, request/response pairs, a PNG, a 404 page, a revisit.
    chunks = [warc_record(rng, WarcRecordType.warcinfo, {"Content-Type": "application/warc-fields"},
                          b"software: gristmill sample/make_sample.py\r\nformat: WARC File Format 1.1\r\n"
                          b"description: small hand-made crawl for the gristmill demo\r\n")]

    def fetch(url: str, body: bytes, content_type: str, status: str = "200 OK") -> None:
        host = url.split("/")[2]
        path = "/" + url.split("/", 3)[3]
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: gristmill-sample\r\n\r\n".encode()
        chunks.append(warc_record(rng, WarcRecordType.request, {"WARC-Target-URI": url,
                                  "Content-Type": "application/http; msgtype=request"}, request))
        chunks.append(warc_record(rng, WarcRecordType.response, {"WARC-Target-URI": url,
                                  "Content-Type": "application/http; msgtype=response"},
                                  http_response(body, content_type, status)))

    warc_urls = []
    for d in warc_docs:
        url = f"https://{'journal.example.fr' if d['lang'] == 'fr' else 'notes.example.net'}/{slug(d['title'])}"
        fetch(url, html_page(d["title"], d["paragraphs"], d["lang"], "Night Sky Notes").encode(),
              "text/html; charset=utf-8")
        add_good(f"warc:{url}", d["lang"], doc_text(d))
        warc_urls.append(url)
    # The same page as one of pages/*.html, crawled: an exact duplicate across formats.
    dup = html_docs[0]
    dup_url = f"https://hearth-and-field.example.com/{slug(dup['title'])}"
    fetch(dup_url, html_page(dup["title"], dup["paragraphs"], dup["lang"], "Hearth & Field").encode(),
          "text/html; charset=utf-8")
    planted.append({"kind": "exact_duplicate", "variant": "same HTML page as a file and in the WARC",
                    "ids": [dup["file"], f"warc:{dup_url}"]})
    fetch("https://stargazers.example.net/images/logo.png", TINY_PNG, "image/png")
    planted.append({"kind": "non_html_response", "variant": "image/png response in the WARC",
                    "ids": ["warc:https://stargazers.example.net/images/logo.png"]})
    not_found = b"<html><head><title>404</title></head><body><h1>Not Found</h1><p>Sorry.</p></body></html>"
    fetch("https://stargazers.example.net/missing-page", not_found, "text/html", "404 Not Found")
    planted.append({"kind": "low_quality", "variant": "404 page in the WARC (little or no main text)",
                    "ids": ["warc:https://stargazers.example.net/missing-page"]})
    revisit_url = warc_urls[0]
    chunks.append(warc_record(rng, WarcRecordType.revisit, {
        "WARC-Target-URI": revisit_url, "Content-Type": "application/http; msgtype=response",
        "WARC-Profile": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
        "WARC-Refers-To-Target-URI": revisit_url, "WARC-Refers-To-Date": "2026-03-14T09:30:00Z"},
        b"HTTP/1.1 304 Not Modified\r\nServer: nginx\r\n\r\n"))
    planted.append({"kind": "revisit", "variant": "revisit record (no payload) in the WARC",
                    "ids": [f"warc:{revisit_url}"]})
    (out / "crawl.warc.gz").write_bytes(b"".join(chunks))
    files["crawl.warc.gz"] = {"records": len(chunks), "format": "WARC/1.1, one gzip member per record"}

    # Unplanned pairs of good documents must not look alike.
    planted_pairs = {frozenset(p["ids"][i:i + 2]) for p in planted for i in range(len(p["ids"]) - 1)}
    keys = sorted(good_texts)
    sets = {k: shingles(good_texts[k]) for k in keys}
    worst = 0.0
    for x, y in itertools.combinations(keys, 2):
        if frozenset((x, y)) in planted_pairs:
            continue
        j = len(sets[x] & sets[y]) / len(sets[x] | sets[y])
        worst = max(worst, j)
        assert j < 0.5, f"unplanned similar pair {x} / {y}: Jaccard {j:.2f}"

    summary = {"seed": SEED, "files": files, "languages": languages, "planted": planted,
               "max_unplanned_jaccard_5gram": round(worst, 3)}
    (out / "planted.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "README.md").write_text(render_readme(summary), encoding="utf-8")
    return summary


def render_readme(summary: dict) -> str:
    from collections import Counter

    lang_counts = Counter(summary["languages"].values())
    lines = [
        "# The embedded sample corpus",
        "",
        "Written for gristmill (original text, no third-party content); used by `make demo` through",
        "`configs/sample.yaml`. Generated by `sample/make_sample.py` from the hand-written paragraphs in",
        "`sample/prose/`; rerunning it gives byte-identical files (seed "
        f"{summary['seed']}). Do not edit the generated files by hand: edit the prose or the script and rerun",
        "`.venv/bin/python sample/make_sample.py`.",
        "",
        "`planted.json` holds the same facts as this page in machine-readable form (tests read it).",
        "Document keys: JSONL/Parquet records by their id; `lines.txt:N` (line N), `books/NAME`, `pages/NAME`,",
        "and `warc:URL` for WARC responses.",
        "",
        "## Files",
        "",
        "| file | records | format |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {info['records']} | {info['format']} |" for name, info in summary["files"].items()]
    lines += ["", "## Languages of the good documents", "",
              "| language | documents |", "|---|---|"]
    lines += [f"| {lang} | {n} |" for lang, n in lang_counts.most_common()]
    lines += ["", f"Unplanned pairs of good documents have 5-word-shingle Jaccard below 0.5 (highest: "
              f"{summary['max_unplanned_jaccard_5gram']}); the generator checks this.", "",
              "## Planted problems", "", "| kind | variant | ids / place | notes |", "|---|---|---|---|"]
    for p in summary["planted"]:
        place = ", ".join(f"`{i}`" for i in p["ids"])
        if "file" in p:
            place = (place + "; " if place else "") + f"`{p['file']}`" + (f" line {p['line']}" if "line" in p else "")
        notes = []
        if "jaccard_5gram" in p:
            notes.append(f"Jaccard {p['jaccard_5gram']}")
        if "jaccard_5gram_first_last" in p:
            notes.append(f"first-last Jaccard {p['jaccard_5gram_first_last']}")
        if "entities" in p:
            notes.append("entities: " + ", ".join(p["entities"]))
        lines.append(f"| {p['kind']} | {p['variant']} | {place} | {'; '.join(notes)} |")
    lines += ["", "All personal data above is fake: documentation-style or test values (the `4111 1111 1111 1111`",
              "test card, the `AKIAIOSFODNN7EXAMPLE` documentation key, example IBANs, a random `ghp_` string).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the corpus (default: sample/)")
    args = parser.parse_args()
    summary = build(args.out)
    print(f"wrote {sum(f['records'] for f in summary['files'].values())} records in {len(summary['files'])} "
          f"files to {args.out}; {len(summary['planted'])} planted problems")


if __name__ == "__main__":
    main()
