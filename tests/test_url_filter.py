"""URL filtering (quality.url_filter): blocklist files, the UT1 layout, host normalisation, banned words."""

import gzip

import pytest

from pipelines.config import CurateConfig, load_config
from quality.url_filter import (
    UrlBlocklist,
    UrlFilterSettings,
    UrlListError,
    make_url_filter_judge,
    normalize_host,
    url_key,
)


def blocklist(tmp_path, domains=(), urls=(), **kw):
    files = {}
    if domains:
        (tmp_path / "domains.txt").write_text("# blocked\n\n" + "\n".join(domains) + "\n", encoding="utf-8")
        files["domain_lists"] = [str(tmp_path / "domains.txt")]
    if urls:
        (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
        files["url_lists"] = [str(tmp_path / "urls.txt")]
    return UrlBlocklist(UrlFilterSettings(**files, **kw))


def test_host_normalisation():
    assert normalize_host("WWW.Example.COM.") == "example.com"
    assert normalize_host("bücher.example") == "xn--bcher-kva.example"
    assert normalize_host("www2.example.com") == "www2.example.com"
    assert url_key("HTTPS://www.Example.com/Dir/Page/?q=1#top") == "example.com/Dir/Page"


def test_domain_and_subdomains_blocked_lookalikes_not(tmp_path):
    b = blocklist(tmp_path, domains=["Example.com", "www.spam.org.", "bücher.example"])
    assert b.verdict("https://example.com/a") == ("url_filter:domain", "domains.txt:example.com")
    assert b.verdict("http://ads.tracker.EXAMPLE.com:8080/x?y=1") == ("url_filter:domain", "domains.txt:example.com")
    assert b.verdict("https://www.example.com./") == ("url_filter:domain", "domains.txt:example.com")
    assert b.verdict("http://user:pw@example.com/") is not None
    assert b.verdict("https://spam.org/") == ("url_filter:domain", "domains.txt:spam.org")
    assert b.verdict("https://xn--bcher-kva.example/") is not None and b.verdict("https://BÜCHER.example/") is not None
    for url in ("https://notexample.com/", "https://example.com.au/", "https://example.co/",
                "https://example.org/example.com", "https://myspam.org/"):
        assert b.verdict(url) is None, url


def test_url_entries_block_the_page_and_below(tmp_path):
    b = blocklist(tmp_path, urls=["news.site.com/bad/", "http://www.other.net/one.html"])
    assert b.verdict("https://news.site.com/bad") == ("url_filter:url", "urls.txt:news.site.com/bad")
    assert b.verdict("https://news.site.com/bad/story?id=3") == ("url_filter:url", "urls.txt:news.site.com/bad")
    assert b.verdict("http://other.net/one.html#frag")[0] == "url_filter:url"
    assert b.verdict("https://news.site.com/badger") is None
    assert b.verdict("https://news.site.com/good/bad") is None
    assert b.verdict("https://other.net/two.html") is None


def test_banned_words_match_whole_url_words(tmp_path):
    b = UrlBlocklist(UrlFilterSettings(banned_words=["casino", "XXX"]))
    assert b.verdict("https://best-casino.example/") == ("url_filter:banned_word", "casino")
    assert b.verdict("https://example.com/free_xxx_videos") == ("url_filter:banned_word", "xxx")
    assert b.verdict("https://casinos.example/") is None  # a word, not a substring
    assert b.verdict("https://occasion.example/") is None


def test_documents_without_url_pass_and_judge_keeps_the_document(tmp_path):
    (tmp_path / "d.txt").write_text("example.com\n", encoding="utf-8")
    judge = make_url_filter_judge(UrlFilterSettings(domain_lists=[str(tmp_path / "d.txt")]))
    for doc in ({"id": "a", "text": "t"}, {"id": "b", "text": "t", "url": None}, {"id": "c", "text": "t", "url": ""}):
        assert judge(doc) == (doc, None)
    assert judge({"id": "d", "url": "not a url at all"}) == ({"id": "d", "url": "not a url at all"}, None)
    assert judge({"id": "e", "url": "http://[::1"})[1] is None  # unparseable: passes
    assert judge({"id": "f", "url": "https://example.com/"})[1][0] == "url_filter:domain"


def test_ut1_layout_with_categories_and_gzip(tmp_path):
    root = tmp_path / "ut1" / "blacklists"
    (root / "adult").mkdir(parents=True)
    (root / "gambling").mkdir()
    (root / "adult" / "domains").write_text("adult.example\n", encoding="utf-8")
    (root / "adult" / "urls").write_text("host.example/adult\n", encoding="utf-8")
    with gzip.open(root / "gambling" / "domains.gz", "wt", encoding="utf-8") as handle:
        handle.write("bets.example\n")
    (root / "README").write_text("not a category", encoding="utf-8")
    everything = UrlBlocklist(UrlFilterSettings(ut1_lists=[str(tmp_path / "ut1")]))
    assert everything.verdict("https://shop.bets.example/") == ("url_filter:domain", "gambling:bets.example")
    assert everything.verdict("https://adult.example/") == ("url_filter:domain", "adult:adult.example")
    assert everything.verdict("https://host.example/adult/page") == ("url_filter:url", "adult:host.example/adult")
    only = UrlBlocklist(UrlFilterSettings(ut1_lists=[str(root)], ut1_categories=["gambling"]))
    assert only.verdict("https://adult.example/") is None and only.verdict("https://bets.example/") is not None
    # One category folder (and datatrove's flat `domains`/`urls` layout) is one list.
    single = UrlBlocklist(UrlFilterSettings(ut1_lists=[str(root / "adult")]))
    assert single.verdict("https://adult.example/")[1] == "adult:adult.example"
    with pytest.raises(UrlListError, match=r"no UT1 categories \['porn'\]"):
        UrlBlocklist(UrlFilterSettings(ut1_lists=[str(root)], ut1_categories=["porn"]))


def test_missing_list_is_an_error(tmp_path):
    with pytest.raises(UrlListError, match="blocklist file not found"):
        UrlBlocklist(UrlFilterSettings(domain_lists=[str(tmp_path / "none.txt")]))
    with pytest.raises(UrlListError, match="UT1 blacklist folder not found"):
        UrlBlocklist(UrlFilterSettings(ut1_lists=[str(tmp_path / "none")]))


def test_deterministic_and_duplicates_keep_the_first_list(tmp_path):
    (tmp_path / "a.txt").write_text("x.example\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("x.example\ny.example\n", encoding="utf-8")
    s = UrlFilterSettings(domain_lists=[str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])
    first, second = UrlBlocklist(s), UrlBlocklist(s)
    assert len(first) == 2 and (first.domains.hashes == second.domains.hashes).all()
    assert first.verdict("http://x.example/")[1] == "a.txt:x.example"


def test_config_section(tmp_path):
    config = CurateConfig.parse({})
    assert not config.url_filter.enabled
    assert CurateConfig.parse({"url_filter": {"banned_words": ["casino"]}}).url_filter.enabled
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "curate.yaml").write_text("url_filter:\n  domain_lists: [lists/bad.txt]\n", encoding="utf-8")
    config = load_config(tmp_path / "cfg" / "curate.yaml")
    assert config.url_filter.enabled and config.url_filter.domain_lists == [str(tmp_path / "cfg" / "lists" / "bad.txt")]
