"""Staged row files: a table copied with `write_table` makes the same file as its rows written one by one."""

import random

import pyarrow.parquet as pq
import pytest

from pipelines import staging
from pipelines.schema import rejected_schema, to_table
from pipelines.staging import RowWriter, iter_rows, iter_tables, write_parquet


def _rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"id": f"src/{i:05d}", "source": "src", "text": "é" * rng.randint(0, 40),
         "reason": "quality:x", "detail": str(i)}
        for i in range(n)
    ]


def test_table_copy_equals_row_writes(tmp_path, monkeypatch):
    """Row groups close at the same rows (by count and by text bytes) whether rows come as dicts or tables."""
    monkeypatch.setattr(staging, "ROW_GROUP_ROWS", 7)
    monkeypatch.setattr(staging, "ROW_GROUP_BYTES", 150)
    rows = _rows(60)
    source = tmp_path / "source.parquet"
    write_parquet(str(source), rows, rejected_schema())
    by_rows, by_tables = tmp_path / "rows.parquet", tmp_path / "tables.parquet"
    wanted = rows[5:9] + rows[3:50] + rows[55:60]
    write_parquet(str(by_rows), wanted, rejected_schema())
    pieces = [(5, 9), (3, 50), (55, 60)]
    stats = write_parquet(str(by_tables), (t for a, b in pieces for t in iter_tables(str(source), a, b)), rejected_schema())
    assert stats == {"rows": len(wanted), "bytes": sum(len(r["text"].encode()) for r in wanted)}
    assert list(iter_rows(str(by_tables))) == list(iter_rows(str(by_rows)))
    assert [r["id"] for r in iter_rows(str(by_tables))] == [r["id"] for r in wanted]
    sizes = lambda path: [pq.ParquetFile(path).metadata.row_group(g).num_rows for g in range(pq.ParquetFile(path).num_row_groups)]
    assert sizes(by_rows) == sizes(by_tables) and len(sizes(by_rows)) > 10
    assert by_rows.read_bytes() == by_tables.read_bytes()


def test_rows_then_table_keep_their_order(tmp_path):
    rows = _rows(10, seed=1)
    source = tmp_path / "source.parquet"
    write_parquet(str(source), rows, rejected_schema())
    writer = RowWriter(str(tmp_path / "mixed.parquet"), rejected_schema())
    writer.write(rows[0])
    for table in iter_tables(str(source), 1, 10):
        writer.write_table(table)
    writer.close()
    assert list(iter_rows(str(tmp_path / "mixed.parquet"))) == list(iter_rows(str(source)))


def test_rows_missing_columns_are_null_and_unknown_columns_an_error(tmp_path):
    rows = _rows(3, seed=2)
    table = to_table(rows, rejected_schema())
    assert table.schema == rejected_schema()
    assert table.column("lang").null_count == 3 and table.column("id").to_pylist() == [r["id"] for r in rows]
    with pytest.raises(KeyError, match=r"'src/00001'.*\['shoe_size'\]"):
        to_table([rows[0], {**rows[1], "shoe_size": 9}], rejected_schema())
