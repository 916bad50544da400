"""API tokens of the caller: listing them and revoking one."""

from __future__ import annotations

from dataclasses import dataclass

from schedy.server.errors import NotFound
from schedy.server.store import Store, users


@dataclass(frozen=True)
class TokenInfo:
    """What a user may see of one of their API tokens (never the secret, never its hash).

    Attributes:
        id: the token's id, as ``DELETE tokens/ID/`` takes it.
        label: what created it (``resettoken``, ``user add``…), if known.
        created_at: seconds since the epoch (database clock).
        revoked_at: when it was revoked, or ``None`` while it is live.

    """

    id: int
    label: str | None
    created_at: float
    revoked_at: float | None


class Tokens:
    """Use cases on the caller's API tokens, each one transaction.

    Holds nothing but the store, so building one per request costs nothing.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def owned_by(self, user_id: int) -> list[TokenInfo]:
        """The user's API tokens, live and revoked, oldest first."""
        with self._store.read() as conn:
            rows = users.tokens_of(conn, user_id)
        return [TokenInfo(row.id, row.label, row.created_at, row.revoked_at) for row in rows]

    def revoke(self, user_id: int, token_id: int) -> None:
        """Revoke one of the user's tokens; revoking a revoked token changes nothing.

        Sessions opened with the token stop working within a few seconds on
        every service process (see :class:`schedy.server.service.auth.Auth`).

        Raises:
            NotFound: the user has no token with this id (another user's
                token is not found either).

        """
        with self._store.write() as conn:
            if users.revoke_token(conn, user_id, token_id):
                return
            if not any(row.id == token_id for row in users.tokens_of(conn, user_id)):
                raise NotFound(f"You have no API token with id {token_id}; `schedy token list` lists yours.")
