"""Operators: the first admin, accounts, login and bearer-token checks.

Every login attempt, successful or not, is an audit entry. A login for an unknown name costs
the same scrypt work as one for a known name, so timing does not reveal who exists.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .audit_log import append_audit
from .db.models import Operator, Role
from .errors import AlreadyExistsError, AuthenticationError, PermissionDeniedError
from .passwords import DUMMY_HASH, hash_password, verify_password
from .session_tokens import SessionTokens

__all__ = [
    "authenticate_bearer",
    "create_operator",
    "enforce_configured_admin",
    "ensure_first_admin",
    "list_operators",
    "login",
    "require_role",
]


async def ensure_first_admin(session: AsyncSession, username: str, password: str) -> bool:
    """Create the admin ``username`` when no operator exists yet; True if it was created."""
    if (await session.scalars(select(Operator.username).limit(1))).first() is not None:
        return False
    password_hash = await asyncio.to_thread(hash_password, password)
    inserted = await session.scalar(
        insert(Operator)
        .values(
            username=username,
            password_hash=password_hash,
            role=Role.ADMIN,
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing()
        .returning(Operator.username)
    )
    if inserted is None:  # another replica won the race
        await session.rollback()
        return False
    await append_audit(
        session, "operator_created", "system", {"username": username, "role": "admin"}
    )
    await session.commit()
    return True


async def enforce_configured_admin(session: AsyncSession, username: str, password: str) -> str:
    """Make ``username`` an admin with ``password`` (the deployment configured it).

    Returns what changed: "created", "password_reset" or "unchanged". Used when the admin
    password comes from configuration, which is then authoritative (a lost password file on one
    machine is recovered by configuring a new one); each change is an audit entry.
    """
    operator = await session.get(Operator, username)
    if (
        operator is not None
        and operator.role == Role.ADMIN
        and await asyncio.to_thread(verify_password, password, operator.password_hash)
    ):
        return "unchanged"
    password_hash = await asyncio.to_thread(hash_password, password)
    if operator is None:
        session.add(
            Operator(
                username=username,
                password_hash=password_hash,
                role=Role.ADMIN,
                created_at=datetime.now(UTC),
            )
        )
        change = "created"
    else:
        operator.password_hash, operator.role = password_hash, Role.ADMIN
        change = "password_reset"
    await append_audit(
        session,
        f"operator_{change}",
        "system",
        {"username": username, "role": "admin", "source": "configuration"},
    )
    await session.commit()
    return change


async def create_operator(
    session: AsyncSession, *, username: str, password: str, role: str, actor: str
) -> Operator:
    """A new operator account."""
    if role not in Role.ALL:
        raise ValueError(f"unknown role {role!r}")
    operator = Operator(
        username=username,
        password_hash=await asyncio.to_thread(hash_password, password),
        role=role,
        created_at=datetime.now(UTC),
    )
    session.add(operator)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise AlreadyExistsError(f"operator {username!r} exists already") from exc
    await append_audit(session, "operator_created", actor, {"username": username, "role": role})
    await session.commit()
    return operator


async def list_operators(session: AsyncSession) -> list[Operator]:
    """Every operator, by name."""
    return list((await session.scalars(select(Operator).order_by(Operator.username))).all())


async def login(
    session: AsyncSession,
    tokens: SessionTokens,
    *,
    username: str,
    password: str,
    client: str | None,
) -> tuple[str, Operator, datetime]:
    """(token, operator, expiry) for good credentials, else :class:`AuthenticationError`.

    Success and failure are both audited.
    """
    operator = await session.get(Operator, username)
    stored = operator.password_hash if operator is not None else DUMMY_HASH
    valid = await asyncio.to_thread(verify_password, password, stored)
    actor = f"operator:{username}"
    if operator is None or not valid:
        await append_audit(session, "operator_login_failed", actor, {"client": client})
        await session.commit()
        raise AuthenticationError("wrong username or password")
    await append_audit(
        session, "operator_login_succeeded", actor, {"client": client, "role": operator.role}
    )
    await session.commit()
    issued = time.time()
    token = tokens.issue(operator.username, operator.role, now=issued)
    return token, operator, datetime.fromtimestamp(issued + tokens.ttl_s, UTC)


async def authenticate_bearer(
    session: AsyncSession, tokens: SessionTokens, bearer: str | None
) -> Operator:
    """The operator a bearer token speaks for; its role is read from the database each time."""
    if not bearer:
        raise AuthenticationError("log in first: send 'Authorization: Bearer <token>'")
    claims = tokens.verify(bearer)
    operator = await session.get(Operator, claims.username)
    if operator is None:
        raise AuthenticationError("the operator of this token no longer exists")
    return operator


def require_role(operator: Operator, *roles: str) -> Operator:
    """``operator`` if its role is one of ``roles`` (admin always passes)."""
    if operator.role == Role.ADMIN or operator.role in roles:
        return operator
    allowed = ", ".join(sorted({Role.ADMIN, *roles}))
    raise PermissionDeniedError(
        f"operator {operator.username!r} has role {operator.role!r}; this needs {allowed}"
    )
