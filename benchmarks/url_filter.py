"""URL filter with a real blocklist: load cost, memory, speed, and verdicts against datatrove's URLFilter.

    .venv/bin/python benchmarks/url_filter.py [--planted 2000]

The blocklist is the UT1-derived one datatrove ships inside its package
(`datatrove/assets/url_filterblacklistsv0_3_0.tar.gz`: a flat `domains` file of
4.56 M domains and a `urls` file), unpacked to a temporary folder and read as a
`ut1_lists` entry. URLs: the 1,191 real page URLs of the corpora (trafilatura's
evaldata and the Common Crawl WET ids, nearly all not on the list), plus planted
ones built from list entries drawn with the seed: the domain itself, `www.` and a
subdomain of it, with a path; and look-alikes (`not<domain>`, `<domain>.example`)
that must pass. datatrove's URLFilter runs on the same URLs with its integrated
lists, its word lists emptied (only the domain and URL rules compared) and
tldextract on its bundled suffix snapshot (no network).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import machine, require_corpora  # noqa: E402
from quality.url_filter import UrlBlocklist, UrlFilterSettings  # noqa: E402


def corpus_urls(corpora: Path) -> list[str]:
    urls = list(json.loads(gzip.decompress((corpora / "web/html/trafilatura_cache/evaldata.json.gz").read_bytes())))
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            urls += [r["id"] for r in map(json.loads, f) if str(r["id"]).startswith("http")]
    return urls


def planted_urls(domains: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    blocked, lookalike = [], []
    for domain in rng.sample(domains, n):
        form = rng.randrange(3)
        host = domain if form == 0 else f"www.{domain}" if form == 1 else f"media.cdn.{domain}"
        blocked.append(f"https://{host}/some/page.html?id={rng.randrange(1000)}")
        lookalike.append(f"https://not{domain}/" if rng.random() < 0.5 else f"https://{domain}.example/")
    return blocked, lookalike


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    corpora = require_corpora()
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    import datatrove

    tar_path = Path(datatrove.__file__).parent / "assets" / "url_filterblacklistsv0_3_0.tar.gz"
    with tempfile.TemporaryDirectory(prefix="gristmill-ut1-") as tmp:
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        domains = [line.strip() for line in open(Path(tmp) / "domains", encoding="utf-8", errors="replace") if line.strip()]
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        blocklist = UrlBlocklist(UrlFilterSettings(ut1_lists=[tmp]))
        load_s = time.perf_counter() - start
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        arrays = sum(a.nbytes for a in (blocklist.domains.hashes, blocklist.domains.sources,
                                        blocklist.urls.hashes, blocklist.urls.sources))
        print(f"list: {len(domains):,} domain lines, {len(blocklist.domains.hashes):,} distinct domains and "
              f"{len(blocklist.urls.hashes):,} URLs after normalising; loaded in {load_s:.1f} s; arrays {arrays / 1e6:.1f} MB; "
              f"peak RSS grew {(rss1 - rss0) / 1024:.0f} MB while loading (the list of lines read for planting is held before)")

        real = corpus_urls(corpora)
        blocked, lookalike = planted_urls(domains, args.planted, args.seed)
        everything = real + blocked + lookalike
        start = time.process_time()
        ours = [blocklist.verdict(u) for u in everything]
        cpu = time.process_time() - start
        print(f"verdicts: {len(everything):,} URLs in {cpu:.2f} CPU s = {len(everything) / cpu:,.0f} URLs/s per core")
        real_hits = [(u, v) for u, v in zip(real, ours) if v]
        print(f"real corpus URLs rejected: {len(real_hits)}/{len(real)}")
        for u, v in real_hits[:10]:
            print(f"    {v[0]} {v[1]}  <- {u[:100]}")
        hit = sum(v is not None for v in ours[len(real) : len(real) + len(blocked)])
        passed = sum(v is None for v in ours[len(real) + len(blocked) :])
        print(f"planted blocked URLs rejected: {hit}/{len(blocked)}; look-alikes passed: {passed}/{len(lookalike)}")

        from datatrove.data import Document
        from datatrove.pipeline.filters import URLFilter
        from tldextract import TLDExtract

        dt = URLFilter(use_integrated_lists=True)
        dt.tldextractor = TLDExtract(suffix_list_urls=())
        start = time.perf_counter()
        dt.download_data()
        dt_load = time.perf_counter() - start
        dt.banned_words, dt.soft_banned_words, dt.banned_subwords = set(), set(), set()
        import ahocorasick

        dt.banned_subwords_automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        start = time.process_time()
        theirs = [dt.filter(Document(text="", id=str(i), metadata={"url": u})) is not True for i, u in enumerate(everything)]
        dt_cpu = time.process_time() - start
        mine = [v is not None for v in ours]
        groups = {"real": (0, len(real)), "planted": (len(real), len(real) + len(blocked)), "look-alike": (len(real) + len(blocked), len(everything))}
        print(f"datatrove URLFilter: lists loaded in {dt_load:.1f} s; {len(everything) / dt_cpu:,.0f} URLs/s per core")
        for name, (lo, hi) in groups.items():
            both = sum(m and t for m, t in zip(mine[lo:hi], theirs[lo:hi]))
            only_ours = [everything[lo + i] for i, (m, t) in enumerate(zip(mine[lo:hi], theirs[lo:hi])) if m and not t]
            only_dt = [everything[lo + i] for i, (m, t) in enumerate(zip(mine[lo:hi], theirs[lo:hi])) if t and not m]
            print(f"  {name:10s} both reject {both}, gristmill only {len(only_ours)}, datatrove only {len(only_dt)}, of {hi - lo}")
            if name == "planted" and only_ours:
                forms = {"the domain": 0, "www.": 0, "sub-subdomain": 0}
                for u in only_ours:
                    host = u.split("/")[2]
                    forms["www." if host.startswith("www.") else "sub-subdomain" if host.startswith("media.cdn.") else "the domain"] += 1
                print(f"      gristmill only, by planted form: {forms}")
            for u in (only_ours[:3] + only_dt[:3]):
                print(f"      differs: {u[:100]}  gristmill={blocklist.verdict(u)}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
