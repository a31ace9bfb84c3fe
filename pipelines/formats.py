"""The input formats `gristmill curate` reads, and the file suffixes that name them (no imports: the CLI reads it for --help)."""

FORMAT_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".warc": "warc",
    ".wet": "warc",
}
# What a source's `format` may say: a format, or `auto` (from each file's suffix).
FORMATS = ("auto", *dict.fromkeys(FORMAT_SUFFIXES.values()))
