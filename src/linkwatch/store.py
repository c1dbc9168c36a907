"""The history database: every SQL statement of linkwatch lives here.

SQLite (stdlib ``sqlite3``) in WAL mode: one file a GitHub Action can cache
and a curator can copy.  Durability rules:

* a run is written in ONE transaction (``record_run``), so a run killed at
  any moment — SIGKILL included — leaves either the whole run or none of it
  (SQLite's atomic commit, https://sqlite.org/atomiccommit.html);
* ``journal_mode=WAL`` with ``synchronous=NORMAL`` keeps commits consistent
  across a process crash (https://sqlite.org/pragma.html#pragma_synchronous;
  only an OS crash may lose the last commit, never corrupt the file);
* ``busy_timeout`` lets a report read while a run writes.

The schema version is ``PRAGMA user_version``; ``MIGRATIONS[i]`` upgrades
version ``i`` to ``i + 1``, each in its own transaction.  A file from a
newer linkwatch is refused rather than guessed at.  Every ``sqlite3`` error
leaves this module as a :class:`StateError` naming the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from linkwatch.content import compress_text, decompress_text
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
    Validators,
    Verdict,
)

T = TypeVar("T")

_V1 = (
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        catalog TEXT NOT NULL,
        inconclusive INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT '',
        incidents TEXT NOT NULL DEFAULT '[]',
        counts TEXT NOT NULL DEFAULT '{}',
        bytes_received INTEGER NOT NULL DEFAULT 0,
        bytes_saved INTEGER NOT NULL DEFAULT 0,
        n_checks INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE checks (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        status_code INTEGER,
        final_url TEXT,
        redirects TEXT NOT NULL DEFAULT '[]',
        attempts INTEGER NOT NULL DEFAULT 1,
        elapsed_ms INTEGER NOT NULL DEFAULT 0,
        suggested_url TEXT,
        health TEXT NOT NULL,
        changed INTEGER NOT NULL DEFAULT 0,
        content_hash TEXT,
        diff TEXT,
        etag TEXT,
        last_modified TEXT,
        last_changed TEXT,
        stale INTEGER NOT NULL DEFAULT 0,
        archived INTEGER,
        pushed_at TEXT,
        bytes_received INTEGER NOT NULL DEFAULT 0,
        not_modified INTEGER NOT NULL DEFAULT 0,
        network_error INTEGER NOT NULL DEFAULT 0,
        checked_at TEXT NOT NULL,
        PRIMARY KEY (run_id, url)
    )""",
    "CREATE INDEX checks_by_url ON checks (url, run_id)",
    """CREATE TABLE link_state (
        url TEXT PRIMARY KEY,
        health TEXT NOT NULL,
        last_verdict TEXT,
        fail_streak INTEGER NOT NULL DEFAULT 0,
        ok_streak INTEGER NOT NULL DEFAULT 0,
        first_failure_at TEXT,
        last_ok_at TEXT,
        recent TEXT NOT NULL DEFAULT '',
        content_hash TEXT,
        text BLOB,
        last_changed TEXT,
        etag TEXT,
        last_modified TEXT,
        updated_at TEXT NOT NULL
    )""",
)

_V2 = ("ALTER TABLE link_state ADD COLUMN body_bytes INTEGER NOT NULL DEFAULT 0",)
# Hashes recorded before the fingerprint rules were numbered are edition 1.
_V3 = ("ALTER TABLE link_state ADD COLUMN fingerprint_version INTEGER NOT NULL DEFAULT 1",)

#: ``MIGRATIONS[i]`` takes a database from ``user_version`` i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)

_CHECK_COLUMNS = (
    "run_id",
    "url",
    "verdict",
    "reason",
    "detail",
    "status_code",
    "final_url",
    "redirects",
    "attempts",
    "elapsed_ms",
    "suggested_url",
    "health",
    "changed",
    "content_hash",
    "diff",
    "etag",
    "last_modified",
    "last_changed",
    "stale",
    "archived",
    "pushed_at",
    "bytes_received",
    "not_modified",
    "network_error",
    "checked_at",
)
_STATE_COLUMNS = (
    "url",
    "health",
    "last_verdict",
    "fail_streak",
    "ok_streak",
    "first_failure_at",
    "last_ok_at",
    "recent",
    "content_hash",
    "text",
    "last_changed",
    "etag",
    "last_modified",
    "body_bytes",
    "fingerprint_version",
    "updated_at",
)
_RUN_COLUMNS = (
    "started",
    "finished",
    "catalog",
    "inconclusive",
    "reason",
    "incidents",
    "counts",
    "bytes_received",
    "bytes_saved",
    "n_checks",
)


def _insert(table: str, columns: Sequence[str], *, upsert_key: str | None = None) -> str:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608 (fixed names)
    if upsert_key:
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c != upsert_key)
        sql += f" ON CONFLICT ({upsert_key}) DO UPDATE SET {sets}"
    return sql


def _ts(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _dt(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def _opt_bool(value: object) -> bool | None:
    return None if value is None else bool(value)


def _renumber_by_time(c: sqlite3.Connection) -> None:
    """Give runs ids in the order they finished, as runs recorded here get them.

    Every "newest check" (reports, ``history``, ``compact``) goes by run id,
    and a merge adds runs in the order the shards come, not the order they
    ran: merging last week's shard after last night's would make its checks
    the newest.  Only the runs from the first one out of order are moved
    (after a nightly merge: that night's), each to the id its place calls
    for, through negative ids so that no two collide on the way.
    """
    by_time = [row[0] for row in c.execute("SELECT id FROM runs ORDER BY finished, started, id")]
    by_id = sorted(by_time)
    first = next((i for i, (a, b) in enumerate(zip(by_time, by_id, strict=True)) if a != b), None)
    if first is None:
        return
    c.execute("PRAGMA defer_foreign_keys = ON")  # checks follow their run below
    moving = list(zip(by_id[first:], by_time[first:], strict=True))
    for _, old in moving:
        c.execute("UPDATE runs SET id = ? WHERE id = ?", (-old, old))
        c.execute("UPDATE checks SET run_id = ? WHERE run_id = ?", (-old, old))
    for new, old in moving:
        c.execute("UPDATE runs SET id = ? WHERE id = ?", (new, -old))
        c.execute("UPDATE checks SET run_id = ? WHERE run_id = ?", (new, -old))


def _newest_run(c: sqlite3.Connection) -> int:
    return int(c.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]], name: str) -> int:
    """Bring ``conn`` to ``len(migrations)``; returns the version found.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with
    its ``user_version`` bump, so a crash mid-migration leaves the previous
    version intact.  A version above what we know is refused: its tables may
    mean something this code would misread.
    """
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > len(migrations):
        raise StateError(
            f"{name}: state database schema version {found} is newer than this linkwatch "
            f"understands ({len(migrations)}); upgrade linkwatch"
        )
    for version in range(found, len(migrations)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return found


class Store:
    """An open history database.  Use :meth:`open`, preferably as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        # The newest run when the states were loaded (see load_states), so
        # that record_run can tell another process's run recorded meanwhile.
        self._newest_run: int | None = None

    # --- lifecycle ---------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        migrations: Sequence[Sequence[str]] = MIGRATIONS,
        busy_timeout_ms: int = 10_000,
        create: bool = True,
    ) -> Store:
        """Open (creating if needed) and migrate the database at ``path``.

        ``create=False`` is for commands that only read history (``status``,
        ``history``, ``report``…): a mistyped ``--state`` must be an error,
        not a new empty database (and folders) at the wrong place.  With
        ``create`` (the writers), the file must take a write transaction now:
        a read-only file fails before the run, not after it.
        """
        path = Path(path)
        if not create and not path.is_file():
            raise StateError(f"{path}: no state database here (run `linkwatch check` first)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"{path}: cannot create its folder: {exc.strerror}") from exc
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
            # The first real read: "file is not a database" surfaces here.
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, migrations, str(path))
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StateError(f"{path}: not a usable linkwatch state database: {exc}") from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        if create:
            # A writer finds out now, not after a whole run's checks, that it
            # cannot record (a read-only file, another writer holding it).
            # Taking the write lock is not enough (WAL locks live in the -shm
            # file): the probe must change a page, and is rolled back.
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"PRAGMA user_version = {len(migrations):d}")
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                conn.close()
                raise StateError(f"{path}: cannot write the state database: {exc}") from exc
            except BaseException:
                conn.close()
                raise
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: all or nothing, writer lock taken up front."""
        with self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._errors():
            return fn(self._conn)

    # --- link state ----------------------------------------------------------

    @staticmethod
    def _state_row(state: LinkState, updated_at: str) -> tuple[object, ...]:
        return (
            state.url,
            state.health.value,
            state.last_verdict.value if state.last_verdict else None,
            state.fail_streak,
            state.ok_streak,
            _ts(state.first_failure_at),
            _ts(state.last_ok_at),
            ",".join(v.value for v in state.recent),
            state.content_hash,
            compress_text(state.text) if state.text is not None else None,
            _ts(state.last_changed),
            state.etag,
            state.last_modified,
            state.body_bytes,
            state.fingerprint_version,
            updated_at,
        )

    @staticmethod
    def _state_from(row: sqlite3.Row | tuple[Any, ...]) -> LinkState:
        (
            url,
            health,
            last_verdict,
            fail_streak,
            ok_streak,
            first_failure_at,
            last_ok_at,
            recent,
            content_hash,
            text,
            last_changed,
            etag,
            last_modified,
            body_bytes,
            fingerprint_version,
            _updated,
        ) = row
        try:
            body = decompress_text(text) if text is not None else None
        except ValueError:
            body = None  # a damaged blob only costs the next diff
        return LinkState(
            url=url,
            health=Health(health),
            last_verdict=Verdict(last_verdict) if last_verdict else None,
            fail_streak=fail_streak,
            ok_streak=ok_streak,
            first_failure_at=_dt(first_failure_at),
            last_ok_at=_dt(last_ok_at),
            recent=tuple(Verdict(v) for v in recent.split(",") if v),
            content_hash=content_hash,
            text=body,
            last_changed=_dt(last_changed),
            etag=etag,
            last_modified=last_modified,
            body_bytes=body_bytes,
            fingerprint_version=fingerprint_version,
        )

    def load_states(self, *, with_text: bool = True) -> dict[str, LinkState]:
        """Every link's remembered state, by URL.

        ``with_text=False`` leaves ``text`` None: a run only needs the old
        text of the few links whose content changed (:meth:`texts`), and
        holding every page's text costs ~4 KB per link.

        The newest run id is noted first: :meth:`record_run` refuses to
        write states derived from these if another run was recorded since.
        """
        self._newest_run = self._read(_newest_run)
        columns = (
            _STATE_COLUMNS
            if with_text
            else tuple("NULL" if c == "text" else c for c in _STATE_COLUMNS)
        )
        sql = f"SELECT {', '.join(columns)} FROM link_state"  # noqa: S608
        rows = self._read(lambda c: c.execute(sql).fetchall())
        return {row[0]: self._state_from(row) for row in rows}

    def texts(self, urls: Iterable[str]) -> dict[str, str]:
        """The stored text of each of ``urls`` that has one (damaged blobs are skipped)."""
        sql = (
            "SELECT url, text FROM link_state "
            "WHERE text IS NOT NULL AND url IN (SELECT value FROM json_each(?))"
        )
        rows = self._read(lambda c: c.execute(sql, (json.dumps(list(urls)),)).fetchall())
        out: dict[str, str] = {}
        for url, blob in rows:
            try:
                out[url] = decompress_text(blob)
            except ValueError:
                continue
        return out

    def validators(self) -> dict[str, Validators]:
        """ETag / Last-Modified per URL for conditional requests (RFC 9110 §13.1).

        history only updates them from an answering response with a body, so
        they always belong to the representation whose hash we hold — as an
        older linkwatch saw it.  Those recorded under older fetch and
        fingerprint rules (``FINGERPRINT_VERSION``) are not sent: the page
        they name may not be the one linkwatch now reads (a redirect stub,
        followed since edition 3, would answer 304 to its own ETag for ever).
        One full fetch per link after an upgrade puts new ones in their place.
        """
        rows = self._read(
            lambda c: c.execute(
                "SELECT url, etag, last_modified FROM link_state "
                "WHERE (etag IS NOT NULL OR last_modified IS NOT NULL) "
                "AND fingerprint_version = ?",
                (FINGERPRINT_VERSION,),
            ).fetchall()
        )
        return {url: Validators(etag=etag, last_modified=lm) for url, etag, lm in rows}

    # --- runs -----------------------------------------------------------------

    @staticmethod
    def _check_row(run_id: int, r: CheckResult) -> tuple[object, ...]:
        return (
            run_id,
            r.link.url,
            r.verdict.value,
            r.reason,
            r.detail,
            r.status_code,
            r.final_url,
            json.dumps([h.as_dict() for h in r.redirects]),
            r.attempts,
            r.elapsed_ms,
            r.suggested_url,
            r.health.value,
            int(r.changed),
            r.content_hash,
            r.diff,
            r.etag,
            r.last_modified,
            _ts(r.last_changed),
            int(r.stale),
            None if r.archived is None else int(r.archived),
            r.pushed_at,
            r.bytes_received,
            int(r.not_modified),
            int(r.network_error),
            _ts(r.checked_at),
        )

    def record_run(
        self,
        summary: RunSummary,
        states: Mapping[str, LinkState],
        *,
        texts: Mapping[str, bytes] | None = None,
    ) -> int:
        """Write a run, its checks and the new link states in ONE transaction.

        Returns the run id.  A URL listed twice in a run is stored once (the
        last result wins), matching history's one-step-per-URL rule.
        ``texts`` are page texts already packed with ``content.compress_text``
        (the pipeline packs new pages' texts as they arrive, so a first run
        over 50,000 pages does not hold them all as strings); they replace
        the stored text of those links.

        After :meth:`load_states`, a run recorded meanwhile by another
        process (a second ``linkwatch check`` on the same file, a schedule, a
        merge) is a :class:`StateError` and nothing is written: the states
        given were derived from the history before that run, and writing
        them would silently drop its step (two failing nights stored, a fail
        streak of one).
        """
        finished = _ts(summary.finished) or ""
        with self._transaction() as c:
            if self._newest_run is not None and _newest_run(c) != self._newest_run:
                raise StateError(
                    f"{self.path}: another linkwatch run was recorded here while this one "
                    "was checking; this run was not recorded (run it again when that one "
                    "is done)"
                )
            by_url = {r.link.url: r for r in summary.results}
            cur = c.execute(
                _insert("runs", _RUN_COLUMNS),
                (
                    _ts(summary.started),
                    finished,
                    summary.catalog,
                    int(summary.inconclusive),
                    summary.inconclusive_reason,
                    json.dumps(list(summary.incidents)),
                    json.dumps(summary.counts()),
                    summary.bytes_received,
                    summary.bytes_saved,
                    len(by_url),
                ),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            c.executemany(
                _insert("checks", _CHECK_COLUMNS),
                (self._check_row(run_id, r) for r in by_url.values()),
            )
            # A state without text keeps the stored one: runs load states
            # without their text (see load_states) and history keeps the old
            # text whenever a result brings none.
            c.executemany(
                _insert("link_state", _STATE_COLUMNS, upsert_key="url").replace(
                    "text = excluded.text", "text = COALESCE(excluded.text, link_state.text)"
                ),
                (self._state_row(s, finished) for s in states.values()),
            )
            if texts:
                c.executemany(
                    "UPDATE link_state SET text = ? WHERE url = ?",
                    ((blob, url) for url, blob in texts.items()),
                )
        self._newest_run = run_id
        return run_id

    def run_ids(self) -> list[int]:
        return self._read(lambda c: [r[0] for r in c.execute("SELECT id FROM runs ORDER BY id")])

    def verdict_history(
        self, urls: Iterable[str] | None = None, limit: int = 30
    ) -> dict[str, list[Verdict]]:
        """The last ``limit`` verdicts per URL, oldest first (for sparklines)."""
        where = ""
        params: list[object] = []
        if urls is not None:
            where = "WHERE url IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(urls)))
        sql = (
            "SELECT url, verdict FROM (SELECT url, verdict, run_id, ROW_NUMBER() OVER "  # noqa: S608
            f"(PARTITION BY url ORDER BY run_id DESC) AS n FROM checks {where}) "
            "WHERE n <= ? ORDER BY url, run_id"
        )
        params.append(limit)
        out: dict[str, list[Verdict]] = {}
        for url, verdict in self._read(lambda c: c.execute(sql, params).fetchall()):
            out.setdefault(url, []).append(Verdict(verdict))
        return out

    def history(self, url: str) -> list[dict[str, object]]:
        """Timeline of one URL, oldest first: one dict per check (``linkwatch history``)."""

        def query(c: sqlite3.Connection) -> list[dict[str, object]]:
            c2 = c.execute(
                "SELECT r.id AS run_id, r.started, r.inconclusive, k.checked_at, k.verdict, "
                "k.reason, k.detail, k.status_code, k.final_url, k.health, k.changed, "
                "k.diff, k.stale, k.elapsed_ms FROM checks k JOIN runs r ON r.id = k.run_id "
                "WHERE k.url = ? ORDER BY r.id",
                (url,),
            )
            names = [d[0] for d in c2.description]
            rows = [dict(zip(names, row, strict=True)) for row in c2.fetchall()]
            for row in rows:
                for key in ("inconclusive", "changed", "stale"):
                    row[key] = bool(row[key])
            return rows

        return self._read(query)

    def latest_summary(self, catalog: Catalog, *, per_link: bool = False) -> RunSummary | None:
        """The last run rebuilt as a RunSummary, with links taken from ``catalog``.

        With ``per_link``, every catalog link gets its newest check from any
        run, and the run facts span the runs that contributed: this is the
        whole-catalog view that ``linkwatch merge`` needs after folding in
        shards, and that ``report`` needs after runs over subsets.  It is
        inconclusive if any of those runs was; ``conclusive_urls`` names the
        links whose newest check came from a conclusive one.

        Results whose URL is no longer in the catalog are dropped; results
        keep the catalog's order.  ``text`` is not kept per check (only the
        latest per link, in link_state), so it is ``None`` here.
        """
        checks_sql = f"SELECT {', '.join(_CHECK_COLUMNS)} FROM checks"  # noqa: S608
        runs_sql = f"SELECT id, {', '.join(_RUN_COLUMNS)} FROM runs"  # noqa: S608

        wanted = {link.url for link in catalog.links}

        def query(c: sqlite3.Connection) -> tuple[list[Any], list[Any]] | None:
            last = c.execute(runs_sql + " ORDER BY id DESC LIMIT 1").fetchone()
            if last is None:
                return None
            if not per_link:
                return [last], c.execute(checks_sql + " WHERE run_id = ?", (last[0],)).fetchall()
            checks = [
                row
                for row in c.execute(
                    checks_sql + " WHERE (url, run_id) IN (SELECT url, MAX(run_id) FROM checks "  # noqa: S608
                    "GROUP BY url)"
                )
                # A link that left the catalog is no part of the view: its last
                # check must not make it inconclusive, nor stretch its time span.
                if row[1] in wanted
            ]
            # The runs the view is made of; the newest run only if it checked
            # a link of the catalog (or nothing else is left to show).
            ids = sorted({row[0] for row in checks} or {last[0]})
            marks = ",".join("?" * len(ids))
            runs = c.execute(runs_sql + f" WHERE id IN ({marks}) ORDER BY id", ids).fetchall()
            return runs, checks

        found = self._read(query)
        if found is None:
            return None
        runs, checks = found
        by_url = {row[1]: row for row in checks}
        results = tuple(
            self._result_from(link, by_url[link.url])
            for link in catalog.links
            if link.url in by_url
        )
        facts = [dict(zip(("id", *_RUN_COLUMNS), run, strict=True)) for run in runs]
        last = facts[-1]
        incidents: list[str] = []
        for f in facts:
            incidents += [h for h in json.loads(f["incidents"]) if h not in incidents]
        inconclusive = [f for f in facts if f["inconclusive"]]
        unsure = {f["id"] for f in inconclusive}
        conclusive_urls = (
            frozenset(row[1] for row in checks if row[0] not in unsure) if per_link else frozenset()
        )
        return RunSummary(
            started=min(_dt(f["started"]) or datetime.min for f in facts),
            finished=max(_dt(f["finished"]) or datetime.min for f in facts),
            catalog=last["catalog"],
            results=results,
            inconclusive=bool(inconclusive),
            inconclusive_reason=inconclusive[-1]["reason"] if inconclusive else "",
            incidents=tuple(incidents),
            run_id=last["id"],
            bytes_received=sum(f["bytes_received"] for f in facts),
            bytes_saved=sum(f["bytes_saved"] for f in facts),
            conclusive_urls=conclusive_urls,
        )

    @staticmethod
    def _result_from(link: Link, row: sqlite3.Row | tuple[Any, ...]) -> CheckResult:
        values = dict(zip(_CHECK_COLUMNS, row, strict=True))
        return CheckResult(
            link=link,
            verdict=Verdict(values["verdict"]),
            reason=values["reason"],
            detail=values["detail"],
            checked_at=_dt(values["checked_at"]) or datetime.min,
            status_code=values["status_code"],
            final_url=values["final_url"],
            redirects=tuple(
                Hop(url=h["url"], status=h["status"], meta_refresh=bool(h.get("meta_refresh")))
                for h in json.loads(values["redirects"])
            ),
            attempts=values["attempts"],
            elapsed_ms=values["elapsed_ms"],
            suggested_url=values["suggested_url"],
            health=Health(values["health"]),
            changed=bool(values["changed"]),
            content_hash=values["content_hash"],
            diff=values["diff"],
            etag=values["etag"],
            last_modified=values["last_modified"],
            last_changed=_dt(values["last_changed"]),
            stale=bool(values["stale"]),
            archived=_opt_bool(values["archived"]),
            pushed_at=values["pushed_at"],
            bytes_received=values["bytes_received"],
            not_modified=bool(values["not_modified"]),
            network_error=bool(values["network_error"]),
        )

    # --- maintenance ----------------------------------------------------------

    def compact(self, keep_runs: int, *, vacuum: bool = False) -> int:
        """Keep the last ``keep_runs`` checks of every link; returns rows deleted.

        Runs left without any check are deleted too; ``link_state`` is never
        touched (it is the memory the lifecycle needs).  The newest run keeps
        all its checks, so ``latest_summary`` is unaffected.
        """
        keep = max(int(keep_runs), 1)
        with self._transaction() as c:
            deleted = c.execute(
                "DELETE FROM checks WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
                "ROW_NUMBER() OVER (PARTITION BY url ORDER BY run_id DESC) AS n FROM checks) "
                "WHERE n > ?)",
                (keep,),
            ).rowcount
            c.execute(
                "DELETE FROM runs WHERE NOT EXISTS "
                "(SELECT 1 FROM checks WHERE checks.run_id = runs.id)"
            )
        if vacuum:
            with self._errors():
                self._conn.execute("VACUUM")
        return deleted

    def integrity_ok(self) -> bool:
        """``PRAGMA integrity_check`` says ``ok`` (https://sqlite.org/pragma.html)."""
        rows = self._read(lambda c: c.execute("PRAGMA integrity_check").fetchall())
        return [tuple(r) for r in rows] == [("ok",)]

    def merge_from(self, other: str | Path) -> int:
        """Fold another state database (a shard's) into this one; returns runs added.

        Runs already present (same start, finish and catalog) are skipped, so
        merging the same shard twice changes nothing.  A link's state is
        taken from whichever database saw the link more recently.  The other
        file is opened read-only and must have this schema version.
        """
        other = Path(other)
        if not other.is_file():
            raise StateError(f"{other}: no such state database")
        try:
            src = sqlite3.connect(f"{other.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StateError(f"{other}: {exc}") from exc
        try:
            version = int(src.execute("PRAGMA user_version").fetchone()[0])
            if version != SCHEMA_VERSION:
                raise StateError(
                    f"{other}: state database schema version {version}, expected "
                    f"{SCHEMA_VERSION}; open it with this linkwatch first"
                )
            runs = src.execute(
                f"SELECT id, {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY id"  # noqa: S608
            ).fetchall()
            checks = src.execute(
                f"SELECT {', '.join(_CHECK_COLUMNS)} FROM checks ORDER BY run_id"  # noqa: S608
            ).fetchall()
            states = src.execute(
                f"SELECT {', '.join(_STATE_COLUMNS)} FROM link_state"  # noqa: S608
            ).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"{other}: not a usable linkwatch state database: {exc}") from exc
        finally:
            src.close()
        checks_by_run: dict[int, list[tuple[Any, ...]]] = {}
        for row in checks:
            checks_by_run.setdefault(row[0], []).append(row)
        added = 0
        with self._transaction() as c:
            for run in runs:
                old_id, values = run[0], run[1:]
                if c.execute(
                    "SELECT 1 FROM runs WHERE started = ? AND finished = ? AND catalog = ?",
                    values[:3],
                ).fetchone():
                    continue
                new_id = c.execute(_insert("runs", _RUN_COLUMNS), values).lastrowid
                c.executemany(
                    _insert("checks", _CHECK_COLUMNS),
                    ((new_id, *row[1:]) for row in checks_by_run.get(old_id, [])),
                )
                added += 1
            upsert = _insert("link_state", _STATE_COLUMNS, upsert_key="url")
            upsert += " WHERE excluded.updated_at > link_state.updated_at"
            c.executemany(upsert, states)
            _renumber_by_time(c)
        return added
