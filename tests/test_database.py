"""The history's database layer: SQL as psycopg takes it, DDL as PostgreSQL takes it, URLs as
they may be shown."""

from __future__ import annotations

import pytest

from lumen_cli.database import postgres_ddl, postgres_sql
from lumen_cli.net import hide_password, is_postgres_url


def test_placeholders_become_psycopg_s_outside_quotes_only() -> None:
    sql = "SELECT '?', \"a?\" FROM t WHERE a=? AND b LIKE '50%' AND c=?"
    assert postgres_sql(sql) == ("SELECT '?', \"a?\" FROM t WHERE a=%s AND b LIKE '50%%' AND c=%s")


def test_tables_get_postgres_types_and_an_explicit_rowid() -> None:
    ddl = postgres_ddl("CREATE TABLE IF NOT EXISTS t (\n    a REAL NOT NULL,\n    n INTEGER\n);")
    assert "rowid BIGINT GENERATED ALWAYS AS IDENTITY," in ddl
    assert "a DOUBLE PRECISION NOT NULL" in ddl
    assert "n BIGINT" in ddl
    assert postgres_ddl("ALTER TABLE jobs ADD COLUMN host TEXT") == (
        "ALTER TABLE jobs ADD COLUMN host TEXT"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://team:s3cret@db:5432/lumen", "postgresql://team:***@db:5432/lumen"),
        ("postgresql://team:p%40ss@db/lumen?sslmode=require", "postgresql://team:***@db/lumen?sslmode=require"),
        ("postgresql://team@db/lumen?password=s3cret&x=1", "postgresql://team@db/lumen?password=***&x=1"),
        ("postgres://db/lumen", "postgres://db/lumen"),
        ("postgresql://team:s3cret@[::1/lumen", "<unparseable URL>"),
    ],
)  # fmt: skip
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert hide_password(url) == shown


def test_only_postgresql_urls_are_shared_histories() -> None:
    assert is_postgres_url("postgresql://db/lumen")
    assert is_postgres_url("POSTGRES://db/lumen")
    assert not is_postgres_url("/home/ana/history.sqlite3")
    assert not is_postgres_url("mysql://db/lumen")
