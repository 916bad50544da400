"""Users and their API tokens."""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from schedy.server.store.engine import db_now
from schedy.server.store.experiments import detach_owned
from schedy.server.store.rows import AnyRow
from schedy.server.store.tables import api_tokens, users


class UserExists(Exception):
    """A user with that email already exists."""


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


#: The longest email address (RFC 5321's path limit, less the angle brackets).
MAX_EMAIL = 254


def email_problem(email: str) -> str | None:
    """Why ``email`` cannot name a user (one sentence), or ``None`` if it can.

    An address is ``local@host`` with both parts non-empty and no space or
    control character; a host without a dot (``admin@localhost``) is fine.

    Example:
        >>> email_problem("ada@example.com") is None, email_problem("admin@localhost") is None
        (True, True)
        >>> email_problem("ada")
        "'ada' is not an email address: give one such as ada@example.com."

    """
    address = normalise_email(email)
    local, at, host = address.rpartition("@")
    if len(address) > MAX_EMAIL:
        return f"An email address has at most {MAX_EMAIL} characters; this one has {len(address)}."
    if not at or not local or not host or any(c.isspace() or not c.isprintable() for c in address):
        return f"{email!r} is not an email address: give one such as ada@example.com."
    return None


def create(conn: Connection, email: str, password_hash: str | None, *, is_admin: bool = False) -> int:
    """Create a user and return its id.

    Raises:
        UserExists: the email is taken.

    """
    try:
        with conn.begin_nested():
            result = conn.execute(
                users.insert()
                .values(
                    email=normalise_email(email),
                    password_hash=password_hash,
                    is_admin=is_admin,
                    created_at=db_now(),
                    session_key=new_session_key(),
                )
                .returning(users.c.id)
            )
            return int(result.scalar_one())
    except IntegrityError:
        raise UserExists(email) from None


def new_session_key() -> str:
    """A fresh random session key (see ``tables.users``)."""
    return secrets.token_hex(16)


def by_email(conn: Connection, email: str, *, lock: bool = False) -> AnyRow | None:
    """The user ``(id, email, password_hash, is_admin, session_key)`` with this email, if any.

    ``lock``: PostgreSQL's ``FOR UPDATE`` on the row until the transaction ends (SQLite's write
    transactions are exclusive already).
    """
    query = select(users.c.id, users.c.email, users.c.password_hash, users.c.is_admin, users.c.session_key).where(
        users.c.email == normalise_email(email)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).one_or_none()


def owner_is_live(conn: Connection, user_id: int) -> bool:
    """Whether a user may still own a new experiment (not removed), its row share-locked (PostgreSQL) until commit.

    Taken in the transaction that creates the experiment: a removal running at the same time (which locks
    the row for update first) either commits before it, and this sees the tombstone, or waits for it, and
    then detaches the experiment it made.
    """
    if not _can_be_id(conn, user_id):
        return False
    query = select(users.c.email, users.c.session_key).where(users.c.id == user_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)  # FOR SHARE
    row = conn.execute(query).one_or_none()
    return row is not None and can_log_in(row.email, row.session_key)


#: The largest id an ``Integer`` column holds: PostgreSQL's ``INTEGER`` has 32 bits (SQLite's, 64).
_MAX_ID = {"postgresql": 2**31 - 1}


def _can_be_id(conn: Connection, value: int) -> bool:
    """Whether a user or token id (``Integer``) can hold ``value``: the database refuses to compare one that cannot.

    Session tokens name ids, and a signed one may name any integer that
    :func:`schedy.server.security.read_session` lets through (64 bits).
    """
    largest = _MAX_ID.get(conn.dialect.name, 2**63 - 1)
    return -largest - 1 <= value <= largest


def by_id(conn: Connection, user_id: int) -> AnyRow | None:
    """The user ``(id, email, is_admin, session_key)`` with this id, if any."""
    if not _can_be_id(conn, user_id):
        return None
    return conn.execute(
        select(users.c.id, users.c.email, users.c.is_admin, users.c.session_key).where(users.c.id == user_id)
    ).one_or_none()


def count(conn: Connection) -> int:
    """How many users exist."""
    return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def all_users(conn: Connection) -> list[AnyRow]:
    """Every user ``(id, email, is_admin, created_at)``, oldest first (removed ones left out)."""
    return list(
        conn.execute(
            select(users.c.id, users.c.email, users.c.is_admin, users.c.created_at)
            .where(~users.c.email.startswith("removed user #"))
            .order_by(users.c.id)
        )
    )


def set_password(conn: Connection, user_id: int, password_hash: str) -> None:
    """Replace a user's password hash, ending every session of the user (a new session key)."""
    conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash, session_key=new_session_key())
    )


#: The email a removed user's row keeps (not an address anyone can log in with).
REMOVED = "removed user #{id} {nonce}"


def remove(conn: Connection, email: str) -> bool:
    """Remove the user with this email and everything it owns; whether it existed.

    Its experiments are detached (hidden, DONE; their jobs, reports and
    artifacts deleted afterwards, batch by batch, as a running service's
    delete does: :func:`~schedy.server.store.experiments.detached`) and
    its API tokens revoked, but the row stays as a tombstone with no email,
    password or session key anyone holds: SQLite gives the id of the newest
    deleted row to the next one, and a session of the removed user must
    never name a later user. The tombstone's session key is empty, which no
    session is ever accepted with (:func:`live_user`), so no login and no
    credential is ever made for it again.
    """
    user = by_email(conn, email, lock=True)
    if user is None:
        return False
    # The user's row first (PostgreSQL: locked until the removal commits), as every transaction that checks
    # a session in the database takes it (live_user, owner_is_live): one order of locks, no deadlock; an
    # experiment being made by the user's session either commits first (and is detached here) or sees
    # the tombstone. The experiments are hidden and emptied as a DELETE of each would (detached: claims and
    # reports in flight find them, then nothing), their rows deleted by the caller in short batches.
    detach_owned(conn, user.id)
    conn.execute(
        update(api_tokens)
        .where(api_tokens.c.user_id == user.id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=db_now())
    )
    conn.execute(
        update(users)
        .where(users.c.id == user.id)
        .values(
            email=REMOVED.format(id=user.id, nonce=secrets.token_hex(8)),
            password_hash=None,
            is_admin=False,
            session_key="",
        )
    )
    return True


def is_removed(email: str) -> bool:
    """Whether an email is a removed user's tombstone."""
    return email.startswith("removed user #")


def can_log_in(email: str, session_key: str) -> bool:
    """Whether a user row with this email and session key may have sessions (not a removed user's tombstone)."""
    return bool(session_key) and not is_removed(email)


def live_user(
    conn: Connection, user_id: int, session_key: str, token_id: int | None, *, lock: bool = False
) -> AnyRow | None:
    """The user ``(id, email, session_key)`` a session still speaks for, or ``None`` if it has ended.

    It has ended when the user was removed or changed password (another
    session key), or when ``token_id`` (the API token it was obtained with)
    was revoked. ``lock`` takes the user's and the token's row locks until
    the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite write transactions
    are already exclusive), so a removal or revocation running at the same
    time either comes first and is seen, or waits for this transaction.
    """
    if not _can_be_id(conn, user_id) or (token_id is not None and not _can_be_id(conn, token_id)):
        return None
    locking = lock and conn.dialect.name == "postgresql"
    query = select(users.c.id, users.c.email, users.c.session_key).where(users.c.id == user_id)
    user = conn.execute(query.with_for_update() if locking else query).one_or_none()
    if user is None or not can_log_in(user.email, user.session_key) or user.session_key != session_key:
        return None
    if token_id is not None:
        token = select(api_tokens.c.id).where(
            api_tokens.c.id == token_id, api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None)
        )
        if conn.execute(token.with_for_update() if locking else token).first() is None:
            return None
    return user


def add_token(conn: Connection, user_id: int, token_hash: str, label: str | None = None) -> int:
    """Store a new API token's hash; return the token's id."""
    result = conn.execute(
        api_tokens.insert()
        .values(user_id=user_id, token_hash=token_hash, label=label, created_at=db_now())
        .returning(api_tokens.c.id)
    )
    return int(result.scalar_one())


def token_owner(conn: Connection, token_hash: str) -> AnyRow | None:
    """``(token_id, user_id, email, session_key)`` of the live token with this hash, if any.

    A removed user's token is never live, even one left unrevoked (made by a
    session of the user in the moments after its removal, before this check
    was made where tokens are made).
    """
    owner = conn.execute(
        select(api_tokens.c.id.label("token_id"), users.c.id.label("user_id"), users.c.email, users.c.session_key)
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
    ).one_or_none()
    return owner if owner is not None and can_log_in(owner.email, owner.session_key) else None


def revoked_token_email(conn: Connection, token_hash: str) -> str | None:
    """The email of the user whose revoked token has this hash, if there is one."""
    email = conn.execute(
        select(users.c.email)
        .join(api_tokens, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_not(None))
    ).first()
    return None if email is None or email[0] is None else str(email[0])


def tokens_of(conn: Connection, user_id: int) -> list[AnyRow]:
    """The user's tokens ``(id, label, created_at, revoked_at)``, oldest first."""
    return list(
        conn.execute(
            select(api_tokens.c.id, api_tokens.c.label, api_tokens.c.created_at, api_tokens.c.revoked_at)
            .where(api_tokens.c.user_id == user_id)
            .order_by(api_tokens.c.id)
        )
    )


def revoke_token(conn: Connection, user_id: int, token_id: int) -> bool:
    """Revoke one of the user's tokens; ``False`` if there is no such live token."""
    result = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=db_now())
    )
    return result.rowcount == 1
