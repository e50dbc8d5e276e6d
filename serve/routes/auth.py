"""Sign-up, login and the current user.

bcrypt runs in these plain `def` handlers, which FastAPI calls in its threadpool, so a ~0.4 s
hash never blocks the event loop. Neither hash nor check happens inside a database
transaction: on SQLite a transaction holds the write lock for its whole life.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from db.models import User
from db.users import create_user, get_user_by_email, normalize_email
from serve.deps import CurrentUser, RateLimiterDep, SessionDep, SettingsDep, client_address
from serve.errors import Conflict, Unauthorized
from serve.schemas import LoginRequest, Token, UserCreate, UserPublic, error_responses
from serve.security import (
    burn_password_check,
    hash_password,
    issue_access_token,
    verify_password,
)

__all__ = ["router"]

router = APIRouter(tags=["auth"], responses=error_responses(422))

LOGIN_WINDOW_S = 15 * 60


@router.post(
    "/auth/signup", status_code=201, response_model=UserPublic, responses=error_responses(409)
)
def signup(body: UserCreate, session: SessionDep, settings: SettingsDep) -> User:
    """Create an account with the sign-up bonus credits."""
    password_hash = hash_password(body.password, cost=settings.bcrypt_cost)
    user = create_user(
        session=session,
        email=body.email,
        password_hash=password_hash,
        name=body.name,
        signup_credits=settings.signup_credits,
    )
    if user is None:
        raise Conflict("An account with this email already exists")
    return user


@router.post("/auth/login", response_model=Token, responses=error_responses(401, 429))
def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Token:
    """Exchange email and password for a bearer token.

    Every attempt counts against limits per client address and per email. A wrong password
    and an unknown email get the same answer after the same bcrypt work.
    """
    email = normalize_email(body.email)
    for bucket, key in (("login-ip", client_address(request)), ("login-email", email)):
        limiter.hit(
            bucket,
            key,
            limit=settings.login_attempts_per_15min,
            window_s=LOGIN_WINDOW_S,
            what="login attempts",
        )
    user = get_user_by_email(session=session, email=email)
    user_id, password_hash = (user.id, user.password_hash) if user else (None, None)
    session.rollback()  # end the read before bcrypt (see the module docstring)
    if user_id is None or not password_hash:
        burn_password_check(body.password, cost=settings.bcrypt_cost)
        raise Unauthorized("Invalid email or password")
    if not verify_password(body.password, password_hash):
        raise Unauthorized("Invalid email or password")
    assert settings.jwt_secret is not None  # create_app refuses to start without it
    token = issue_access_token(
        user_id, secret=settings.jwt_secret, issuer=settings.jwt_issuer, ttl_s=settings.jwt_ttl_s
    )
    return Token(access_token=token, expires_in=settings.jwt_ttl_s)


@router.get("/me", response_model=UserPublic, responses=error_responses(401))
def read_me(user: CurrentUser) -> User:
    """The signed-in user and their credit balance."""
    return user
