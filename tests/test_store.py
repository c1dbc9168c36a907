"""Tests for linkwatch.store: schema, round trips, retention, merge, crash safety."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linkwatch.errors import StateError
from linkwatch.models import (
    FINGERPRINT_VERSION,
    Catalog,
    CheckResult,
    Health,
    Hop,
    Link,
    LinkState,
    RunSummary,
    Settings,
    Validators,
    Verdict,
)
from linkwatch.store import MIGRATIONS, SCHEMA_VERSION, Store, migrate

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)


def link(i: int) -> Link:
    return Link(url=f"https://h{i % 3}.example/{i}", title=f"Link {i}")


def result(i: int, verdict: Verdict = Verdict.OK, at: datetime = T0, **kw: object) -> CheckResult:
    return CheckResult(
        link=link(i),
        verdict=verdict,
        reason="http-200" if verdict is Verdict.OK else "http-404",
        detail="d",
        checked_at=at,
        **kw,  # type: ignore[arg-type]
    )


def summary(results: list[CheckResult], at: datetime = T0, **kw: object) -> RunSummary:
    return RunSummary(
        started=at,
        finished=at + timedelta(seconds=5),
        catalog="catalog.toml",
        results=tuple(results),
        **kw,  # type: ignore[arg-type]
    )


def state(i: int, **kw: object) -> LinkState:
    return LinkState(url=link(i).url, **kw)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "sub" / "state.db") as s:
        yield s


# --- opening and migrations ------------------------------------------------


def test_open_creates_folder_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    with Store.open(path) as s:
        assert s.integrity_ok()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as s:
        s.record_run(summary([result(1)]), {link(1).url: state(1)})
    with Store.open(path) as s:
        assert list(s.load_states()) == [link(1).url]


def test_migrations_run_in_order_from_v0(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    fake = [("CREATE TABLE a (x)",), ("ALTER TABLE a ADD COLUMN y", "INSERT INTO a VALUES (1, 2)")]
    assert migrate(conn, fake, "m.db") == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT x, y FROM a").fetchall() == [(1, 2)]


def test_migration_resumes_from_stored_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    migrate(conn, [("CREATE TABLE a (x)",)], "m.db")
    assert migrate(conn, [("CREATE TABLE a (x)",), ("CREATE TABLE b (y)",)], "m.db") == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2


def test_failed_migration_leaves_previous_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    bad = [("CREATE TABLE a (x)",), ("CREATE TABLE b (y)", "THIS IS NOT SQL")]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, bad, "m.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"a"}


def test_states_kept_before_fingerprints_were_numbered_are_edition_1(tmp_path: Path) -> None:
    """A database from before the fingerprint version: its hashes are edition 1,
    so history adopts each link's new hash once instead of calling it a change."""
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:2], str(path))
    conn.execute(
        "INSERT INTO link_state (url, health, recent, content_hash, updated_at) "
        "VALUES (?, 'healthy', '', 'old-hash', '2024-03-01T03:00:00+00:00')",
        (link(1).url,),
    )
    conn.close()
    with Store.open(path) as s:
        assert s.load_states()[link(1).url].fingerprint_version == 1
        s.record_run(summary([result(2)]), {link(2).url: state(2, fingerprint_version=7)})
        assert s.load_states()[link(2).url].fingerprint_version == 7


def test_newer_schema_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StateError, match=r"future\.db: .*version 99 is newer") as info:
        Store.open(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"this is not a database" * 100, b"\x00" * 4096])
def test_corrupt_file_is_refused_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(content)
    with pytest.raises(StateError, match=r"broken\.db: not a usable linkwatch state database"):
        Store.open(path)


# --- round trips -----------------------------------------------------------


def test_record_and_load_states_round_trip(store: Store) -> None:
    full = state(
        1,
        health=Health.FAILING,
        last_verdict=Verdict.BROKEN,
        fail_streak=2,
        ok_streak=0,
        first_failure_at=T0,
        last_ok_at=T0 - timedelta(days=1),
        recent=(Verdict.OK, Verdict.BLOCKED, Verdict.BROKEN),
        content_hash="abc",
        text="注意力 attention\nline two",
        last_changed=T0 - timedelta(days=3),
        etag='"v1"',
        last_modified="Tue, 01 Jan 2019 00:00:00 GMT",
    )
    bare = state(2)
    store.record_run(summary([result(1), result(2)]), {full.url: full, bare.url: bare})
    assert store.load_states() == {full.url: full, bare.url: bare}


def test_a_state_without_text_keeps_the_stored_text(store: Store) -> None:
    store.record_run(summary([result(1)]), {link(1).url: state(1, content_hash="h", text="old")})
    later = T0 + timedelta(days=1)
    store.record_run(summary([result(1, at=later)], at=later), {link(1).url: state(1, ok_streak=2)})
    loaded = store.load_states()[link(1).url]
    assert (loaded.ok_streak, loaded.text) == (2, "old")


def test_states_load_without_text_and_texts_load_by_url(store: Store) -> None:
    states = {link(i).url: state(i, content_hash="h", text=f"text {i}") for i in (1, 2, 3)}
    store.record_run(summary([result(i) for i in (1, 2, 3)]), states)
    assert {s.text for s in store.load_states(with_text=False).values()} == {None}
    assert store.texts([link(1).url, link(3).url, "https://nowhere.example/"]) == {
        link(1).url: "text 1",
        link(3).url: "text 3",
    }


def test_record_run_returns_increasing_ids(store: Store) -> None:
    first = store.record_run(summary([result(1)]), {})
    second = store.record_run(summary([result(1)], T0 + timedelta(days=1)), {})
    assert second > first


def test_a_writer_that_cannot_write_fails_at_open_not_after_the_run(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    Store.open(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, e.g. the sqlite3 shell
    try:
        with pytest.raises(StateError, match=r"state\.db: cannot write the state database: "):
            Store.open(db, busy_timeout_ms=50)
        with Store.open(db, busy_timeout_ms=50, create=False) as reader:  # readers still read
            assert reader.run_ids() == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_state_file_fails_at_open(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    Store.open(db).close()
    db.chmod(0o444)
    with pytest.raises(StateError, match=r"cannot write the state database: .*readonly"):
        Store.open(db)


def test_a_run_recorded_meanwhile_by_another_process_is_not_overwritten(tmp_path: Path) -> None:
    # Two `linkwatch check`s on one state file: both load the same history,
    # and the second to finish would write states that never saw the first
    # one's step (two failing nights stored, a fail streak of one).
    db = tmp_path / "state.db"
    with Store.open(db) as first, Store.open(db) as second:
        first.load_states()
        second.load_states()
        failing = {link(1).url: state(1, health=Health.FAILING, fail_streak=1)}
        second.record_run(summary([result(1, Verdict.BROKEN)]), failing)
        with pytest.raises(StateError, match=r"state\.db: another linkwatch run was recorded"):
            first.record_run(
                summary([result(1, Verdict.BROKEN)], T0 + timedelta(minutes=1)), failing
            )
        assert len(first.run_ids()) == 1
        # Loading again sees that run, and the next run is recorded on top of it.
        first.load_states()
        first.record_run(
            summary([result(1, Verdict.BROKEN)], T0 + timedelta(days=1)),
            {link(1).url: state(1, health=Health.ROTTEN, fail_streak=2)},
        )
        assert len(second.run_ids()) == 2


def test_validators_only_where_known(store: Store) -> None:
    """Known, and recorded under today's rules: an older edition's may name another page."""
    now = FINGERPRINT_VERSION
    states = {
        link(1).url: state(1, etag='"e"', fingerprint_version=now),
        link(2).url: state(
            2, last_modified="Tue, 01 Jan 2019 00:00:00 GMT", fingerprint_version=now
        ),
        link(3).url: state(3, fingerprint_version=now),
        link(4).url: state(4, etag='"stub"', fingerprint_version=now - 1),
    }
    store.record_run(summary([]), states)
    assert store.validators() == {
        link(1).url: Validators(etag='"e"'),
        link(2).url: Validators(last_modified="Tue, 01 Jan 2019 00:00:00 GMT"),
    }


def test_latest_summary_rebuilds_the_last_run(store: Store) -> None:
    store.record_run(summary([result(1, Verdict.BROKEN)]), {})
    full = result(
        1,
        Verdict.MOVED,
        at=T0 + timedelta(days=1),
        status_code=301,
        final_url="https://new.example/1",
        redirects=(
            Hop("https://h1.example/1", 301),
            Hop("https://h1.example/1/", 200, meta_refresh=True),
        ),
        health=Health.RECOVERED,
        changed=True,
        content_hash="h",
        diff="-a\n+b",
        archived=True,
        stale=True,
        network_error=False,
        last_changed=T0,
    )
    gone = result(7)
    store.record_run(
        summary([gone, full], T0 + timedelta(days=1), inconclusive=False, incidents=("x",)),
        {},
    )
    catalog = Catalog(path="catalog.toml", settings=Settings(), links=(link(1), link(2)))
    got = store.latest_summary(catalog)
    assert got is not None
    assert got.results == (full,)
    assert got.incidents == ("x",)
    assert got.started == T0 + timedelta(days=1)


def test_latest_summary_of_empty_store_is_none(store: Store) -> None:
    assert store.latest_summary(Catalog("c.toml", Settings(), (link(1),))) is None


def test_inconclusive_flag_and_reason_survive(store: Store) -> None:
    store.record_run(summary([result(1)], inconclusive=True, inconclusive_reason="offline"), {})
    got = store.latest_summary(Catalog("c.toml", Settings(), (link(1),)))
    assert got is not None
    assert (got.inconclusive, got.inconclusive_reason) == (True, "offline")


def test_per_link_summary_names_the_links_a_conclusive_run_checked_last(store: Store) -> None:
    """An old inconclusive run makes the whole view inconclusive, not every link in it."""
    store.record_run(summary([result(1), result(2)], inconclusive=True), {})
    later = T0 + timedelta(days=1)
    store.record_run(summary([result(1, Verdict.BROKEN, later)], later), {})
    catalog = Catalog("c.toml", Settings(), (link(1), link(2)))
    got = store.latest_summary(catalog, per_link=True)
    assert got is not None
    assert got.inconclusive
    assert got.conclusive_urls == {link(1).url}


def test_verdict_history_oldest_first_and_limited(store: Store) -> None:
    verdicts = [Verdict.OK, Verdict.BROKEN, Verdict.ERROR, Verdict.OK]
    for day, verdict in enumerate(verdicts):
        at = T0 + timedelta(days=day)
        store.record_run(summary([result(1, verdict, at), result(2, at=at)], at), {})
    got = store.verdict_history([link(1).url], limit=3)
    assert got == {link(1).url: verdicts[1:]}


def test_history_timeline(store: Store) -> None:
    for day, verdict in enumerate([Verdict.OK, Verdict.BROKEN]):
        at = T0 + timedelta(days=day)
        store.record_run(summary([result(1, verdict, at)], at), {})
    rows = store.history(link(1).url)
    assert [(r["verdict"], r["reason"], r["inconclusive"]) for r in rows] == [
        ("ok", "http-200", False),
        ("broken", "http-404", False),
    ]


# --- retention and merge ---------------------------------------------------


def test_compact_keeps_last_runs_per_link(store: Store) -> None:
    for day in range(5):
        at = T0 + timedelta(days=day)
        # link 2 is only checked in the first run: its one check stays.
        rows = [result(1, at=at)] + ([result(2, at=at)] if day == 0 else [])
        store.record_run(summary(rows, at), {link(1).url: state(1, ok_streak=day)})
    deleted = store.compact(2)
    assert deleted == 3
    history = store.verdict_history()
    assert {url: len(v) for url, v in history.items()} == {link(1).url: 2, link(2).url: 1}
    assert len(store.run_ids()) == 3
    assert store.load_states()[link(1).url].ok_streak == 4


def make_shard(path: Path, indices: list[int], at: datetime) -> None:
    with Store.open(path) as s:
        s.record_run(
            summary([result(i, at=at) for i in indices], at),
            {link(i).url: state(i, ok_streak=1) for i in indices},
        )


def test_merge_folds_shards(tmp_path: Path, store: Store) -> None:
    make_shard(tmp_path / "a.db", [1, 2], T0)
    make_shard(tmp_path / "b.db", [3], T0 + timedelta(minutes=1))
    assert store.merge_from(tmp_path / "a.db") == 1
    assert store.merge_from(tmp_path / "b.db") == 1
    assert set(store.load_states()) == {link(1).url, link(2).url, link(3).url}
    assert set(store.verdict_history()) == {link(1).url, link(2).url, link(3).url}


def test_merge_twice_adds_nothing(tmp_path: Path, store: Store) -> None:
    make_shard(tmp_path / "a.db", [1], T0)
    store.merge_from(tmp_path / "a.db")
    assert store.merge_from(tmp_path / "a.db") == 0
    assert len(store.run_ids()) == 1


def test_merge_keeps_the_newer_state(tmp_path: Path, store: Store) -> None:
    later = T0 + timedelta(days=1)
    store.record_run(summary([result(1, at=later)], later), {link(1).url: state(1, ok_streak=9)})
    make_shard(tmp_path / "old.db", [1], T0)
    store.merge_from(tmp_path / "old.db")
    assert store.load_states()[link(1).url].ok_streak == 9


def test_merging_an_older_shard_last_keeps_the_newest_check_newest(
    tmp_path: Path, store: Store
) -> None:
    """Runs are numbered in the order they ran, whatever order the shards come in."""
    night2 = T0 + timedelta(days=1)
    with Store.open(tmp_path / "old.db") as old:
        old.record_run(
            summary([result(0, Verdict.BROKEN, at=T0)], T0),
            {link(0).url: state(0, health=Health.FAILING, fail_streak=1)},
        )
    with Store.open(tmp_path / "new.db") as new:
        new.record_run(
            summary([result(0, Verdict.OK, at=night2)], night2),
            {link(0).url: state(0, health=Health.RECOVERED)},
        )
    store.merge_from(tmp_path / "new.db")
    store.merge_from(tmp_path / "old.db")
    catalog = Catalog(path="catalog.toml", settings=Settings(), links=(link(0),), schedules=())
    latest = store.latest_summary(catalog, per_link=True)
    assert latest is not None
    assert [r.verdict for r in latest.results] == [Verdict.OK]
    assert [h["verdict"] for h in store.history(link(0).url)] == ["broken", "ok"]
    assert store.verdict_history() == {link(0).url: [Verdict.BROKEN, Verdict.OK]}
    store.compact(1)
    assert [h["verdict"] for h in store.history(link(0).url)] == ["ok"]
    assert store.integrity_ok()


def test_a_link_gone_from_the_catalog_no_longer_makes_the_view_inconclusive(
    store: Store,
) -> None:
    night2 = T0 + timedelta(days=1)
    offline = summary(
        [result(0, Verdict.ERROR, at=T0), result(1, Verdict.ERROR, at=T0)],
        T0,
        inconclusive=True,
        inconclusive_reason="the network is unreachable",
    )
    store.record_run(offline, {})
    store.record_run(summary([result(0, at=night2)], night2), {link(0).url: state(0)})
    catalog = Catalog(path="catalog.toml", settings=Settings(), links=(link(0),), schedules=())
    latest = store.latest_summary(catalog, per_link=True)  # link 1 left the catalog
    assert latest is not None
    assert not latest.inconclusive
    assert latest.started == night2


def test_a_newest_run_over_links_gone_from_the_catalog_is_no_part_of_the_view(
    store: Store,
) -> None:
    night2 = T0 + timedelta(days=1)
    store.record_run(summary([result(0, at=T0)], T0), {link(0).url: state(0)})
    offline = summary([result(1, Verdict.ERROR, at=night2)], night2, inconclusive=True)
    store.record_run(offline, {})
    catalog = Catalog(path="catalog.toml", settings=Settings(), links=(link(0),), schedules=())
    latest = store.latest_summary(catalog, per_link=True)
    assert latest is not None
    assert (latest.inconclusive, latest.started) == (False, T0)
    assert latest.finished < night2


def test_merge_refuses_a_non_database(tmp_path: Path, store: Store) -> None:
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"junk" * 1000)
    with pytest.raises(StateError, match=r"junk\.db"):
        store.merge_from(bad)


def test_merge_refuses_missing_file(tmp_path: Path, store: Store) -> None:
    with pytest.raises(StateError, match=r"nope\.db: no such state database"):
        store.merge_from(tmp_path / "nope.db")


# --- crash safety ----------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from linkwatch.models import CheckResult, Link, LinkState, RunSummary, Verdict
    from linkwatch.store import Store

    store = Store.open(sys.argv[1])
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    n = 0
    while True:
        n += 1
        at = t0 + timedelta(hours=n)
        links = [Link(url=f"https://h{i % 7}.example/{i}", title="t") for i in range(400)]
        results = tuple(
            CheckResult(link=l, verdict=Verdict.OK, reason="http-200", detail="x" * 200,
                        checked_at=at, content_hash=f"{n}")
            for l in links
        )
        states = {l.url: LinkState(url=l.url, ok_streak=n, text="body " * 200) for l in links}
        store.record_run(RunSummary(started=at, finished=at, catalog="c", results=results),
                         states)
        print(n, flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_mid_run_leaves_no_half_run(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    rng = random.Random(4)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert proc.stdout is not None
        for _ in range(rng.randint(1, 3)):
            assert proc.stdout.readline(), "writer died before committing a run"
        # Kill at a random point inside the next run's work.
        time.sleep(rng.random() / 20)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    with Store.open(db) as s:
        assert s.integrity_ok()
        assert len(s.run_ids()) >= 4
        states = s.load_states()
    conn = sqlite3.connect(db)
    runs = conn.execute(
        "SELECT r.id, r.n_checks, COUNT(k.url) FROM runs r LEFT JOIN checks k "
        "ON k.run_id = r.id GROUP BY r.id"
    ).fetchall()
    conn.close()
    assert runs
    assert all(n == count == 400 for _, n, count in runs), runs
    # Every link state comes from one and the same run, never a mix of two.
    assert len(states) == 400
    assert len({st.ok_streak for st in states.values()}) == 1
