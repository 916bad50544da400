"""Artifacts: files attached to jobs (checkpoints, models), streamed in and out.

**Bytes and rows.** The bytes of an artifact live in a *blob store*
(:mod:`schedy.server.service.blobs`): a directory (the data directory's
``artifacts/`` by default) or any fsspec filesystem (``schedy server
--artifacts s3://bucket/prefix``), so several service processes on several
hosts share it. A row of the ``artifacts``
table makes a blob visible; it is inserted only once the blob is complete
and its SHA-256 checked, so an upload cut short (a lost connection, a
``kill -9`` of the service) leaves nothing visible: at most a temporary file
(local store, removed at the next start once an hour old) or an unfinished
multipart upload (S3; a bucket lifecycle rule removes those).

**Streaming.** An upload is read from the request in the chunks the server
hands over, gathered to 1 MiB, and each MiB is hashed and written in a
worker thread (chunk by chunk, never joined) while the next one is received; a download is read a MiB at a
time. Memory stays flat whatever the size. The client sends the SHA-256 it
expects in ``X-Schedy-Sha256``, or (``X-Schedy-Sha256: trailing``, what
the Python client does) as the body's last 64 bytes, so that it can hash
the file while sending it; either way a body that differs is refused.

**Limits.** ``max_bytes`` per file and ``quota`` bytes per user (the sum of
the user's visible artifacts) answer 413 with one sentence: at once from
``Content-Length`` (a client that sent ``Expect: 100-continue`` never sends
the body), or as soon as the body goes over.

**Deleting.** Replacing or deleting an artifact, or deleting its job or
experiment, detaches its row (``job_pk`` NULL); :meth:`Artifacts.collect`,
run by every service process every second, deletes the blobs of detached
rows that no other row refers to, then those rows (so a store that fails
leaves them to the next collection rather than blobs nothing points at).

**One store for every process.** Several service processes serve one
database; the bytes of its artifacts are in one store, which every process
must be given (``--artifacts``, a shared directory or URL). Each store holds
an id (:data:`~schedy.server.service.blobs.MARKER`), and the database
records the id (and the place) of the store the first upload wrote to
(:data:`~schedy.server.store.installation.ARTIFACT_STORE`). A process whose
store is another one says so in a WARNING at start, refuses uploads (503:
they would go where the other processes never look), answers a download of a
file its store lacks with 503 saying the file is in the database's store, not
lost, and leaves detached blobs to the processes of that store. A store with
no id yet that holds the database's newest artifact file (copied there by
``schedy database copy --artifacts-to``) takes the database's id.

**Retries.** A job retried after its lease lapsed (``maxRetries``) starts
with the artifacts of the attempt it retries: the lease sweep copies the
rows, sharing the blobs, so a retry resumes from its own last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import IO, Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from schedy.server.errors import BadRequest, Invalid, NotFound, PayloadTooLarge, StorageUnavailable
from schedy.server.service.blobs import MARKER, ArtifactsUnavailable, BlobStore, log_now
from schedy.server.store import Store, installation
from schedy.server.store import artifacts as store_artifacts
from schedy.server.store.artifacts import ArtifactRow

__all__ = [
    "CHUNK",
    "TRAILER",
    "Artifacts",
    "check_artifact_name",
    "parse_size",
]

logger = logging.getLogger("schedy.server.artifacts")

#: Bytes hashed and written (or read) per step.
CHUNK = 1 << 20
#: Length of the SHA-256 that ends a body sent with ``X-Schedy-Sha256: trailing`` (hexadecimal).
TRAILER = 64
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._=+-]{0,199}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_artifact_name(name: str) -> str:
    """Refuse names that are not one plain file name (no path, no leading dot, nor a leading '-', '=' or '+')."""
    if not _NAME.fullmatch(name):
        raise Invalid(
            "An artifact name is 1 to 200 ASCII letters, digits, '.', '_', '=', '+' or '-', starting with a letter, "
            f"a digit or '_' (no '/'), got {name[:80]!r}."
        )
    return name


def parse_size(text: str) -> int:
    """``"10GiB"``, ``"500M"``, ``"1048576"`` → bytes (K, M, G, T are powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"Expected a size such as 500M, 10GiB or 1048576, got {text!r}.")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024**power)


class StoreRecord(NamedTuple):
    """The store the database's artifact files are written to: its id, and where it was when recorded."""

    id: str
    where: str

    def dumps(self) -> str:
        """The value of the ``installation`` row."""
        return json.dumps({"id": self.id, "store": self.where})

    @classmethod
    def read(cls, conn: Connection) -> StoreRecord | None:
        """The database's record, ``None`` if no artifact was stored since the records began."""
        value = installation.get(conn, installation.ARTIFACT_STORE)
        if value is None:
            return None
        try:
            data = json.loads(value)
            return cls(str(data["id"]), str(data.get("store", "an unnamed store")))
        except (ValueError, KeyError, TypeError):
            return cls(value, "an unnamed store")


def _size(value: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    raise AssertionError  # pragma: no cover


def _hold_back(parts: list[bytes], held: int) -> tuple[list[bytes], list[bytes]]:
    """``parts`` less their last ``held`` bytes, which stay: ``(parts to write, kept parts)``.

    No copy unless the last part is shorter than ``held`` (the parts are
    hashed and written one by one, not joined).
    """
    if held == 0:
        return parts, []
    if len(parts[-1]) >= held:
        return parts[:-1], parts[-1:]
    data = b"".join(parts)
    return [data[:-held]], [data[-held:]]


class Artifacts:
    """Use cases on artifacts.

    Args:
        store: the database.
        blobs: where the bytes go.
        max_bytes: the largest artifact accepted.
        quota: bytes of artifacts a user may keep.

    """

    def __init__(self, store: Store, blobs: BlobStore, *, max_bytes: int, quota: int) -> None:
        self._store = store
        self.blobs = blobs
        self.max_bytes = max_bytes
        self.quota = quota
        #: The id of this process's store, once :meth:`start` read it (``None``: no store checks).
        self.identity: str | None = None

    # -- the store's identity -----------------------------------------------------

    def start(self) -> None:
        """At start: this process's store's id (a new store is marked), and a WARNING if it is not the database's.

        Raises:
            ArtifactsUnavailable: the store's marker cannot be read or written.

        """
        with self._store.read() as conn:
            recorded = StoreRecord.read(conn)
            newest = store_artifacts.newest(conn)
        try:
            found = self.blobs.identity()
            # A store with no marker where the database's store was recorded is that store, emptied or
            # restored from a backup older than the marker; one elsewhere holding the newest file is a copy.
            here = found is None and recorded is not None and recorded.where == self.blobs.where
            copy = not here and found is None and recorded is not None and newest is not None and self._holds(newest)
            adopt = recorded.id if recorded is not None and (here or copy) else None
            self.identity = self.blobs.mark(found or adopt or uuid.uuid4().hex)
        except Exception as exc:
            raise ArtifactsUnavailable(
                f"Cannot use the artifact store {self.blobs.description}: its marker file {MARKER} could not be read "
                f"or written ({exc}); give --artifacts a store this user can read and write (docs/artifacts.md)."
            ) from None
        if recorded is None:
            if newest is not None and self._holds(newest):  # artifacts stored before the records began
                with self._store.write() as conn:
                    mine = StoreRecord(self.identity, self.blobs.where).dumps()
                    installation.get_or_create(conn, installation.ARTIFACT_STORE, lambda: mine)
            return
        if copy:
            with self._store.write() as conn:
                installation.put(conn, installation.ARTIFACT_STORE, StoreRecord(recorded.id, self.blobs.where).dumps())
            logger.info(
                "The artifact store %s holds the files of this database's artifacts (copied from %s): it is now the "
                "database's store.",
                self.blobs.where,
                recorded.where,
            )
        elif here:
            logger.warning(
                "The artifact store %s had no marker file %s (emptied, or restored from a backup made before "
                "Schedy wrote one): at the place this database's store was recorded, it is that store and keeps "
                "its id %s. An artifact whose file it lacks is reported lost when downloaded.",
                self.blobs.where,
                MARKER,
                recorded.id,
            )
        elif self.identity != recorded.id:
            self._warn_elsewhere(recorded)

    def _holds(self, blob: str) -> bool:
        """Whether this process's store has the file ``blob`` (not if the store fails to answer)."""
        try:
            self.blobs.open(blob).close()
        except Exception:  # missing, or a store failing: not known to be there
            return False
        return True

    def _elsewhere(self, conn: Connection) -> StoreRecord | None:
        """The database's store, if it is not this process's (and this process knows its own).

        On a difference the store's marker is read again: another process may have written it since
        this one started (object stores have no exclusive create, so two processes starting at once on
        a new store may both write one, the last write winning).
        """
        if self.identity is None:
            return None
        recorded = StoreRecord.read(conn)
        if recorded is None or recorded.id == self.identity:
            return None
        if self._marker() == recorded.id:
            self.identity = recorded.id
            return None
        return recorded

    def _marker(self) -> str | None:
        """The id in the store's marker now (``None`` if it has none or the store fails to answer)."""
        try:
            return self.blobs.identity()
        except Exception:  # a store failing: nothing learnt
            return None

    def _warn_elsewhere(self, recorded: StoreRecord, *, now: bool = True) -> None:
        """Tell the administrator that this process's store is not the database's (``now``: else a line a minute)."""
        unsaid = 0 if now else log_now("elsewhere")
        if unsaid is None:
            return
        logger.warning(
            "This service process's artifact store %s (id %s) is not the one this database's artifacts are stored "
            "in, %s (id %s): give every service process the same --artifacts (a shared directory or URL). Until "
            "then this process refuses uploads and cannot send the files its store lacks. If this is that store "
            "and it lost its files, restore them from a backup, or write %s into its file %s to make it the "
            "database's store from now on%s.",
            self.blobs.where,
            self.identity,
            recorded.where,
            recorded.id,
            recorded.id,
            MARKER,
            f" ({unsaid} more such refusals since the last such line)" if unsaid else "",
        )

    def _refuse_upload(self, recorded: StoreRecord) -> StorageUnavailable:
        self._warn_elsewhere(recorded, now=False)
        return StorageUnavailable(
            "This service process keeps artifact files in another store than the one this database's artifacts "
            "are in, so it takes none (nothing was saved): ask the service's administrator to give every service "
            "process the same --artifacts."
        )

    # -- reading --------------------------------------------------------------

    @staticmethod
    def _job(conn: Any, user_id: int, experiment: str, job_id: str) -> int:
        exp, pk = store_artifacts.job_pk(conn, user_id, experiment, job_id)
        if exp is None:
            raise NotFound(f"Experiment '{experiment}' does not exist.")
        if pk is None:
            raise NotFound(f"Job '{job_id}' does not exist in experiment '{experiment}'.")
        return pk

    def listing(self, user_id: int, experiment: str, job_id: str) -> list[ArtifactRow]:
        """The job's artifacts, by name."""
        with self._store.read() as conn:
            return store_artifacts.listing(conn, self._job(conn, user_id, experiment, job_id))

    def experiment_page(
        self, user_id: int, experiment: str, after: int | None, limit: int
    ) -> tuple[list[tuple[str, ArtifactRow]], int | None]:
        """One page of the artifacts of every job of the experiment: ``([(job id, row)…], next key)``.

        Raises:
            NotFound: no such experiment.

        """
        with self._store.read() as conn:
            exp, _ = store_artifacts.job_pk(conn, user_id, experiment, "")
            if exp is None:
                raise NotFound(f"Experiment '{experiment}' does not exist.")
            rows = store_artifacts.experiment_page(conn, exp, after or 0, limit + 1)
        following = rows[limit - 1][0] if len(rows) > limit else None
        return [(job_id, row) for _, job_id, row in rows[:limit]], following

    def find(self, user_id: int, experiment: str, job_id: str, name: str) -> ArtifactRow:
        """One artifact's row (404 if the job has none of that name)."""
        with self._store.read() as conn:
            row = store_artifacts.get(conn, self._job(conn, user_id, experiment, job_id), name)
        if row is None:
            raise NotFound(f"Job '{job_id}' of experiment '{experiment}' has no artifact '{name}'.")
        return row

    @staticmethod
    async def chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
        """The bytes of a blob opened with :meth:`open_checked`, a MiB at a time (read in a worker thread)."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await loop.run_in_executor(None, file.read, CHUNK)
                if not data:
                    return
                yield data
        finally:
            await loop.run_in_executor(None, file.close)

    def open_checked(self, row: ArtifactRow) -> IO[bytes]:
        """Open the artifact's blob; 404 if it was deleted since its row was read, or if the store lost it.

        A blob missing while a visible row still points at it was not deleted by Schedy. If this process's
        store is not the database's (another ``--artifacts``), the file is in the database's store: a 503
        says so (another process may send it) and the log tells the administrator (a line a minute).
        Else the store lost the file (its directory deleted, a restore that left it out): that 404 says
        so, for the administrator, and is logged (a line a minute).
        """
        try:
            return self.blobs.open(row.blob)
        except FileNotFoundError:
            with self._store.read() as conn:
                lost = store_artifacts.attached(conn, row.blob)
                elsewhere = self._elsewhere(conn) if lost else None
        if not lost:
            raise NotFound(f"The artifact '{row.name}' was replaced or deleted meanwhile.")
        if elsewhere is not None:
            self._warn_elsewhere(elsewhere, now=False)
            raise StorageUnavailable(
                f"This service process's artifact store is not the one the artifact '{row.name}' was stored in, "
                "so it cannot send its file (which is not lost): ask the service's administrator to give every "
                "service process the same --artifacts."
            )
        unsaid = log_now("lost")
        if unsaid is not None:
            logger.warning(
                "The artifact store %s has no file for an artifact that is still listed (blob %s): it was deleted "
                "or lost outside Schedy; restore the store's files from a backup%s.",
                self.blobs.description,
                row.blob,
                f"; {unsaid} more such downloads since the last such line" if unsaid else "",
            )
        raise NotFound(
            f"The service's artifact store has lost the file of the artifact '{row.name}' (it is listed, but its "
            "bytes are gone from the store): ask the service's administrator to restore the store from a backup, "
            "or upload the artifact again."
        )

    # -- writing --------------------------------------------------------------

    def _too_large(self, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The artifact is over the service's limit of {_size(self.max_bytes)} per file "
            f"({size} bytes or more); the service sets it with --artifact-max-size."
        )

    def _over_quota(self, used: int, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"This artifact ({_size(size)}) would take your artifacts over your quota of {_size(self.quota)} "
            f"({_size(used)} used): delete some, or ask for a larger --artifact-quota."
        )

    def check_room(self, user_id: int, experiment: str, job_id: str, name: str, declared: int | None) -> None:
        """Before reading a body: the job exists, and a declared size fits the limit and the quota."""
        with self._store.read() as conn:
            job = self._job(conn, user_id, experiment, job_id)
            elsewhere = self._elsewhere(conn)
            if elsewhere is not None:
                raise self._refuse_upload(elsewhere)
            if declared is None:
                return
            if declared > self.max_bytes:
                raise self._too_large(declared)
            used = store_artifacts.used(conn, user_id)
            previous = store_artifacts.get(conn, job, name)
        if previous is not None:
            used -= previous.size  # replaced: its bytes will no longer count
        if used + declared > self.quota:
            raise self._over_quota(used, declared)

    async def upload(
        self,
        user_id: int,
        experiment: str,
        job_id: str,
        name: str,
        body: AsyncIterator[bytes],
        expected_sha256: str | None,
        *,
        trailing_sha256: bool = False,
    ) -> ArtifactRow:
        """Stream ``body`` into a new blob, check it, and make it the job's artifact ``name``.

        With ``trailing_sha256`` the body's last 64 bytes are the SHA-256 of
        the rest, in hexadecimal (``X-Schedy-Sha256: trailing``): a client
        then hashes its file while sending it instead of before, and the
        artifact is still refused, never shown, when what arrived differs.

        Raises:
            PayloadTooLarge: over the per-file limit or the user's quota.
            BadRequest: the body's SHA-256 is not the one expected (or the trailing one is missing).
            NotFound: the job was deleted meanwhile.

        """
        if expected_sha256 is not None and not _SHA256.fullmatch(expected_sha256):
            raise BadRequest("X-Schedy-Sha256 must be 64 lowercase hexadecimal digits, or 'trailing'.")
        loop = asyncio.get_running_loop()
        key = f"{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}"
        writer = await loop.run_in_executor(None, self.blobs.writer, key)
        digest = hashlib.sha256()
        held = TRAILER if trailing_sha256 else 0  # the trailing digest is never hashed nor written
        size = 0

        def step(parts: list[bytes]) -> None:
            # Part by part as the server received them (64-256 KiB each): no copy to join them, and each
            # part is written while still in the CPU cache from hashing it. hashlib releases the GIL.
            for data in parts:
                digest.update(data)
                writer.write(data)

        pending: asyncio.Future[None] | None = None
        parts: list[bytes] = []
        gathered = 0
        committed = False
        try:
            async for chunk in body:
                if not chunk:
                    continue
                size += len(chunk)
                if size - held > self.max_bytes:
                    raise self._too_large(size - held)
                parts.append(chunk)
                gathered += len(chunk)
                if gathered >= CHUNK + held:
                    data, parts = _hold_back(parts, held)
                    gathered = sum(map(len, parts))
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(None, step, data)  # while the next MiB arrives
            if pending is not None:
                await pending
                pending = None
            rest = b"".join(parts)
            if held:
                if len(rest) < held or not _SHA256.fullmatch(rest[-held:].decode("latin-1")):
                    raise BadRequest(
                        "The body does not end with the SHA-256 of the file in 64 lowercase hexadecimal digits, "
                        "as X-Schedy-Sha256: trailing says it does; nothing was saved."
                    )
                expected_sha256, rest, size = rest[-held:].decode("ascii"), rest[:-held], size - held
            if rest:
                await loop.run_in_executor(None, step, [rest])
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise BadRequest(
                    f"The artifact arrived with SHA-256 {sha256}, not the {expected_sha256} the client sent: "
                    "it was damaged in transit, and nothing was saved."
                )
            await loop.run_in_executor(None, writer.commit)
            committed = True
            row = await loop.run_in_executor(None, self._attach, user_id, experiment, job_id, name, size, sha256, key)
        except BaseException:
            if pending is not None:
                with contextlib.suppress(Exception):  # the first failure is the one reported
                    await pending
            if committed:
                await loop.run_in_executor(None, self.blobs.delete, key)
            else:
                await loop.run_in_executor(None, writer.abort)
            raise
        return row

    def _attach(
        self, user_id: int, experiment: str, job_id: str, name: str, size: int, sha256: str, key: str
    ) -> ArtifactRow:
        for attempt in range(3):
            try:
                with self._store.write() as conn:
                    job = self._job(conn, user_id, experiment, job_id)
                    self._claim(conn)
                    store_artifacts.lock_owner(conn, user_id)  # the quota: one attach of a user at a time
                    if not store_artifacts.lock_job(conn, job):
                        raise NotFound(f"Job '{job_id}' of experiment '{experiment}' was deleted during the upload.")
                    used = store_artifacts.used(conn, user_id)
                    previous = store_artifacts.get(conn, job, name)
                    if previous is not None:
                        used -= previous.size  # replaced: its bytes no longer count
                    if used + size > self.quota:
                        raise self._over_quota(used, size)
                    return store_artifacts.attach(conn, job, user_id, name, size, sha256, key)
            except IntegrityError:
                if attempt == 2:
                    raise
                # Another upload of the same name committed first: replace it.
        raise AssertionError  # pragma: no cover

    def _claim(self, conn: Connection) -> None:
        """Record this process's store as the database's if none is yet; refuse if another one is."""
        if self.identity is None:
            return
        recorded = StoreRecord.read(conn)
        if recorded is None:
            # The first upload (of several at once, the first insert wins), or the first since an upgrade:
            # then this store is recorded only if it holds the newest file (else another process's may).
            newest = store_artifacts.newest(conn)
            if newest is not None and not self._holds(newest):
                return
            self.identity = self._marker() or self.identity  # what the store says now (see _elsewhere)
            installation.get_or_create(
                conn, installation.ARTIFACT_STORE, StoreRecord(self.identity, self.blobs.where).dumps
            )
        elsewhere = self._elsewhere(conn)
        if elsewhere is not None:
            raise self._refuse_upload(elsewhere)

    def delete(self, user_id: int, experiment: str, job_id: str, name: str) -> None:
        """Delete the job's artifact ``name`` (404 if there is none); its blob goes at the next collection."""
        with self._store.write() as conn:
            job = self._job(conn, user_id, experiment, job_id)
            if not store_artifacts.detach(conn, job, name):
                raise NotFound(f"Job '{job_id}' of experiment '{experiment}' has no artifact '{name}'.")

    # -- collecting -------------------------------------------------------------

    def collect(self, batch: int = 100) -> int:
        """Delete the blobs of detached rows (deleted jobs, experiments, replaced artifacts), then the rows.

        A blob goes only when no other row refers to it (a retry shares its
        previous attempt's blobs); none can start to, since only an attached
        row is ever copied. Blobs go first so that a store that fails (a
        network cut, refused credentials) leaves the rows detached, and the
        next collection tries again, instead of blobs no row points at any
        more; a process dying between the two leaves detached rows whose
        blobs are gone, which the next collection forgets.
        """
        with self._store.read() as conn:
            doomed = store_artifacts.detached(conn, batch)
            if doomed and self._elsewhere(conn) is not None:
                return 0  # their blobs are in the database's store: its processes delete them
        if not doomed:
            return 0
        pks = [pk for pk, _blob in doomed]
        blobs = sorted({blob for _pk, blob in doomed})
        with self._store.read() as conn:
            kept = store_artifacts.referenced(conn, blobs, besides=pks)
        for blob in blobs:
            if blob not in kept:
                self.blobs.delete(blob)  # a failure leaves the rows for the next collection
        with self._store.write() as conn:
            store_artifacts.forget(conn, pks)
        return len(doomed)
