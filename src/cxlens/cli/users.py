"""``cxlens users``: staff users of the web app (the first admin, store managers) and API keys."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Annotated, Any

import typer

from cxlens.cli.common import fail, out, state
from cxlens.ops import OpsStore, utcnow
from cxlens.web.settings import get_web_settings

users_app = typer.Typer(help="Users of the web app and their API keys.", no_args_is_help=True)

Password = Annotated[
    str,
    typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True, help="Password (prompted if not given)."
    ),
]


def _auth() -> ModuleType:
    """The web app's auth module (imported on use: it needs the web extra, e.g. argon2)."""
    try:
        from cxlens.web import auth
    except ImportError as exc:
        raise fail(f"user management needs the web extra: pip install 'cxlens[web]' ({exc})") from None
    return auth


@contextmanager
def _ops() -> Iterator[OpsStore]:
    store = OpsStore(get_web_settings().ops_url, data_dir=state.data_dir)
    try:
        yield store
    finally:
        store.close()


def actor() -> str:
    """Who runs the command, for the audit log (``cli:<operating-system user>``)."""
    try:
        return f"cli:{getpass.getuser()}"[:128]
    except (KeyError, OSError):
        return "cli"


def _create(username: str, password: str, role: str, stores: list[str]) -> None:
    auth = _auth()
    with _ops() as ops:
        try:
            auth.create_user(ops, username, password, role, stores, actor=actor())
        except auth.AuthError as exc:
            raise fail(str(exc)) from None
    scope = f" for stores {', '.join(stores)}" if stores else ""
    out.print(f"created {role.replace('_', ' ')} {username}{scope}", highlight=False, markup=False)


@users_app.command("create-admin")
def create_admin(username: Annotated[str, typer.Argument(help="Login name.")], password: Password) -> None:
    """Create an admin (the first user: run this once after installing)."""
    _create(username, password, "admin", [])


@users_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Password,
    role: Annotated[str, typer.Option(help="admin, analyst or store_manager.")] = "analyst",
    store: Annotated[list[str] | None, typer.Option(help="Store id a store manager sees (repeat).")] = None,
) -> None:
    """Create a user with a role; store managers need one or more --store."""
    _create(username, password, role, list(store or []))


@users_app.command("list")
def list_() -> None:
    """List users with role and stores."""
    auth = _auth()
    with _ops() as ops:
        for user in auth.list_users(ops):
            stores = ",".join(user.stores or []) or "-"
            status = "active" if user.active else "disabled"
            typer.echo(f"{user.username}\t{user.role}\t{stores}\t{status}")


@users_app.command("api-key")
def api_key(
    username: Annotated[str, typer.Argument(help="User the key acts as.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    days: Annotated[float | None, typer.Option(min=0.001, help="Expire after this many days.")] = None,
) -> None:
    """Create an API key for a user and print it (shown once; send it as X-API-Key)."""
    key = _change(lambda auth, ops: auth.create_api_key(ops, username, name, days=days, actor=actor()))
    out.print(key, highlight=False, markup=False)


def _change(action: Callable[[ModuleType, OpsStore], Any]) -> Any:
    auth = _auth()
    with _ops() as ops:
        try:
            return action(auth, ops)
        except auth.AuthError as exc:
            raise fail(str(exc)) from None


@users_app.command("keys")
def keys(username: Annotated[str | None, typer.Argument(help="Only this user's keys.")] = None) -> None:
    """List API keys: prefix, user, name, expiry, last use and status."""
    auth = _auth()
    with _ops() as ops:
        rows = auth.list_api_keys(ops, username)
    now = utcnow()
    for key, owner in rows:
        status = (
            "revoked" if key.revoked else "expired" if key.expires_at and key.expires_at <= now else "active"
        )
        expires = key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "never"
        used = key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "never"
        typer.echo(f"{key.prefix}\t{owner}\t{key.name or '-'}\texpires {expires}\tused {used}\t{status}")


@users_app.command("revoke-key")
def revoke_key(prefix: Annotated[str, typer.Argument(help="The key's prefix as listed (cxk_...).")]) -> None:
    """Revoke an API key at once."""
    n = _change(lambda auth, ops: auth.revoke_api_key(ops, prefix, actor=actor()))
    out.print(f"revoked {n} key(s) {prefix}", highlight=False, markup=False)


@users_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disable a user: their sessions end and their API keys stop working."""
    _change(lambda auth, ops: auth.set_active(ops, username, False, actor=actor()))
    out.print(f"disabled {username}", highlight=False, markup=False)


@users_app.command("enable")
def enable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Enable a disabled user again."""
    _change(lambda auth, ops: auth.set_active(ops, username, True, actor=actor()))
    out.print(f"enabled {username}", highlight=False, markup=False)


@users_app.command("delete")
def delete(
    username: Annotated[str, typer.Argument(help="Login name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user and their API keys (the audit log keeps their name)."""
    if not yes and not typer.confirm(f"delete user {username} and their API keys?"):
        raise fail("nothing deleted")
    _change(lambda auth, ops: auth.delete_user(ops, username, actor=actor()))
    out.print(f"deleted {username}", highlight=False, markup=False)


@users_app.command("password")
def password(username: Annotated[str, typer.Argument(help="Login name.")], password: Password) -> None:
    """Set a user's password; their sessions end."""
    _change(lambda auth, ops: auth.set_password(ops, username, password, actor=actor()))
    out.print(f"password of {username} changed", highlight=False, markup=False)


@users_app.command("access")
def access(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str | None, typer.Option(help="admin, analyst or store_manager.")] = None,
    store: Annotated[list[str] | None, typer.Option(help="Store id a store manager sees (repeat).")] = None,
) -> None:
    """Change a user's role and/or a store manager's stores (applies to their next request)."""
    user = _change(lambda auth, ops: auth.set_access(ops, username, role=role, stores=store, actor=actor()))
    scope = f" for stores {', '.join(user.stores)}" if user.stores else ""
    out.print(f"{username} is now {user.role.replace('_', ' ')}{scope}", highlight=False, markup=False)
