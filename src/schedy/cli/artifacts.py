"""``schedy artifact list|get|put|rm``: the files stored with a job, from the command line.

The Python client has ``job.save_artifact`` and ``job.load_artifact``; these
commands give the same to everything else: a shell script or a program in
another language run by ``schedy run`` (which finds its job in
``$SCHEDY_EXPERIMENT`` and ``$SCHEDY_JOB_ID``) saving and resuming from
checkpoints, and a person fetching the best job's model after a search.
Transfers are streamed and checked against the stored SHA-256 as the
client's are (:mod:`schedy._artifacts`): a download is renamed into place
only once all of it arrived intact.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from schedy import _artifacts, _routes
from schedy._db import SchedyDB
from schedy.cli.common import CommandError, UsageError, connect
from schedy.cli.table import Table, human_size
from schedy.cli.views import iso_time

__all__ = ["add_parsers", "cmd_get", "cmd_list", "cmd_put", "cmd_rm"]


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``artifact`` and its commands."""
    parser = subparsers.add_parser(
        "artifact",
        help="List, download, upload or delete the files stored with a job.",
        description="The files (artifacts) stored with a job: checkpoints, models, plots. Inside a command run "
        'by \'schedy run\', its job is "$SCHEDY_EXPERIMENT" "$SCHEDY_JOB_ID". See docs/artifacts.md.',
        epilog='Example: schedy artifact put "$SCHEDY_EXPERIMENT" "$SCHEDY_JOB_ID" checkpoint.pt',
    )
    sub = parser.add_subparsers(dest="artifact_command", required=True, metavar="COMMAND")

    lst = sub.add_parser(
        "list",
        help="List a job's artifacts.",
        description="List a job's artifacts: name, size, when stored, SHA-256.",
    )
    _job_arguments(lst)
    lst.set_defaults(func=cmd_list)

    get = sub.add_parser(
        "get",
        help="Download an artifact of a job.",
        description="Download an artifact of a job to ./NAME, or to -o PATH (a file, or a directory to write "
        "NAME into; - for standard output). The file appears only once all of it arrived and matched its "
        "SHA-256; an existing file of that name is replaced. Exit status 1 when the job has no such artifact.",
        epilog="Example: schedy artifact get mnist flEORe1oxo6 model.pt -o best-model.pt",
    )
    _job_arguments(get)
    get.add_argument("name", metavar="NAME", help="The artifact's name.")
    get.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="Where to write it (default ./NAME): a file in an existing directory, or a directory (one that "
        "exists, or a path ending in /, created); - for standard output.",
    )
    get.add_argument(
        "--from-parent",
        action="store_true",
        help="Download the artifact of the job's parent instead: the PBT member it exploited or continues.",
    )
    get.set_defaults(func=cmd_get)

    put = sub.add_parser(
        "put",
        help="Store a file with a job.",
        description="Store FILE with a job as the artifact NAME (default: the file's name), replacing an "
        "artifact of that name. Streamed and checksummed; the artifact is visible only once all of it arrived.",
    )
    _job_arguments(put)
    put.add_argument("file", metavar="FILE", help="The file to store; - reads it from standard input (with --name).")
    put.add_argument("--name", metavar="NAME", help="Its name in the job (default: the file's name).")
    put.set_defaults(func=cmd_put)

    rm = sub.add_parser("rm", help="Delete an artifact of a job.", description="Delete an artifact of a job.")
    _job_arguments(rm)
    rm.add_argument("name", metavar="NAME", help="The artifact's name.")
    rm.set_defaults(func=cmd_rm)


def _job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", metavar="EXPERIMENT", help="Name of the experiment.")
    parser.add_argument("job", metavar="JOB", help="Id of the job.")


def _job_path(args: argparse.Namespace) -> str:
    return _routes.job(_routes.experiment(args.experiment), args.job)


def _local_error(exc: OSError | ValueError) -> CommandError:
    """A local problem (no such file, a bad name, a destination not writable) as one line."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return CommandError(f"{exc.filename}: {exc.strerror}.")
    return CommandError(str(exc))


def cmd_list(args: argparse.Namespace) -> None:
    """Print a table of the job's artifacts."""
    with connect(args) as db:
        found = _artifacts.listing(db._transport, _job_path(args))
    if not found:
        print(f"Job '{args.job}' of experiment '{args.experiment}' has no artifacts.")
        return
    table = Table([("artifact", "name"), ("artifact", "size"), ("artifact", "stored"), ("artifact", "sha256")])
    for artifact in found:
        stored = "" if artifact.created_at is None else iso_time(artifact.created_at)  # UTC, as everywhere in the CLI
        table.add_row({
            ("artifact", "name"): artifact.name,
            ("artifact", "size"): human_size(artifact.size),
            ("artifact", "stored"): stored,
            ("artifact", "sha256"): artifact.sha256,
        })  # fmt: skip
    print(table.grid())


def cmd_get(args: argparse.Namespace) -> None:
    """Download one artifact of the job (or of its parent)."""
    with connect(args) as db:
        if args.output == "-":
            _to_stdout(db, args)
            return
        written = _download(db, args, args.output)
    if written.is_file():
        print(f"{args.name}: {human_size(written.stat().st_size)} written to {_shown(written)}.")
    else:  # a FIFO or a device, written into
        print(f"{args.name}: written to {_shown(written)}.")


def _download(db: SchedyDB, args: argparse.Namespace, to: str | Path | None) -> Path:
    """The artifact ``args.name`` of the job (``--from-parent``: of its parent) written to ``to``."""
    try:
        if args.from_parent:  # the job's parent, as the client's own load_artifact finds it
            job = db.get_experiment(args.experiment).get_job(args.job)
            return job.load_artifact(args.name, to, from_parent=True)
        return _artifacts.download(db._transport, _job_path(args), args.name, to)
    except (OSError, ValueError) as exc:
        raise _local_error(exc) from None


def _to_stdout(db: SchedyDB, args: argparse.Namespace) -> None:
    """``-o -``: the artifact on standard output, only once all of it arrived and matched its SHA-256.

    It goes through a temporary file first, so that a reader never gets part of a file or bytes
    that a failed check would disown.
    """
    with tempfile.TemporaryDirectory(prefix="schedy-artifact-") as scratch:
        written = _download(db, args, Path(scratch) / "artifact")
        out = sys.stdout.buffer
        sys.stdout.flush()
        with written.open("rb") as source:
            shutil.copyfileobj(source, out, 1 << 20)
        out.flush()


def cmd_put(args: argparse.Namespace) -> None:
    """Store a file with the job."""
    if args.file == "-" and args.name is None:
        raise UsageError("Name the artifact read from standard input with --name, e.g. --name checkpoint.tar.")
    with connect(args) as db, tempfile.TemporaryDirectory(prefix="schedy-artifact-") as scratch:
        source = args.file
        if source == "-":  # its size must be known before it is sent: spool it first
            source = Path(scratch) / "stdin"
            with source.open("wb") as spool:
                shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        try:
            stored = _artifacts.upload(db._transport, _job_path(args), source, args.name)
        except (OSError, ValueError) as exc:
            raise _local_error(exc) from None
    print(f"{stored.name}: {human_size(stored.size)} stored with job '{args.job}' (sha256 {stored.sha256}).")


def cmd_rm(args: argparse.Namespace) -> None:
    """Delete one artifact of the job."""
    with connect(args) as db:
        try:
            _artifacts.delete(db._transport, _job_path(args), args.name)
        except ValueError as exc:
            raise _local_error(exc) from None
    print(f"Artifact {args.name!r} of job '{args.job}' deleted.")


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else as it is."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
