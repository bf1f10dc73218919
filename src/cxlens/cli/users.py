"""``cxlens users``: staff users of the web app (the first admin, store managers) and API keys."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cxlens.cli.common import FormatOpt, check_stores, fail, print_frame, print_record, state

if TYPE_CHECKING:
    from cxlens.ops import OpsStore

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
    from cxlens.ops import OpsStore
    from cxlens.web.settings import get_web_settings

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


def _create(username: str, password: str, role: str, stores: list[str], output: str) -> None:
    auth = _auth()
    check_stores(stores)
    with _ops() as ops:
        try:
            auth.create_user(ops, username, password, role, stores, actor=actor())
        except auth.AuthError as exc:
            raise fail(str(exc)) from None
    scope = f" for stores {', '.join(stores)}" if stores else ""
    message = f"created {role.replace('_', ' ')} {username}{scope}"
    print_record({"username": username, "role": role, "stores": stores}, output, message=message)


@users_app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Password,
    output: FormatOpt = "table",
) -> None:
    """Create an admin (the first user: run this once after installing)."""
    _create(username, password, "admin", [], output)


@users_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Password,
    role: Annotated[str, typer.Option(help="admin, analyst or store_manager.")] = "analyst",
    store: Annotated[list[str] | None, typer.Option(help="Store id a store manager sees (repeat).")] = None,
    output: FormatOpt = "table",
) -> None:
    """Create a user with a role; store managers need one or more --store."""
    _create(username, password, role, list(store or []), output)


@users_app.command("list")
def list_(output: FormatOpt = "table") -> None:
    """List users with role and stores."""
    import pandas as pd

    auth = _auth()
    with _ops() as ops:
        rows = [
            (u.username, u.role, ",".join(u.stores or []), "active" if u.active else "disabled")
            for u in auth.list_users(ops)
        ]
    print_frame(pd.DataFrame(rows, columns=["username", "role", "stores", "status"]), output, "users")


@users_app.command("api-key")
def api_key(
    username: Annotated[str, typer.Argument(help="User the key acts as.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    days: Annotated[float | None, typer.Option(min=0.001, help="Expire after this many days.")] = None,
    output: FormatOpt = "table",
) -> None:
    """Create an API key for a user and print it (shown once; send it as X-API-Key)."""
    key = _change(lambda auth, ops: auth.create_api_key(ops, username, name, days=days, actor=actor()))
    print_record({"username": username, "name": name, "api_key": key}, output, message=key)


def _change(action: Callable[[ModuleType, OpsStore], Any]) -> Any:
    auth = _auth()
    with _ops() as ops:
        try:
            return action(auth, ops)
        except auth.AuthError as exc:
            raise fail(str(exc)) from None


@users_app.command("keys")
def keys(
    username: Annotated[str | None, typer.Argument(help="Only this user's keys.")] = None,
    output: FormatOpt = "table",
) -> None:
    """List API keys: prefix, user, name, expiry, last use and status."""
    import pandas as pd

    from cxlens.ops import utcnow

    auth = _auth()
    with _ops() as ops:
        found = auth.list_api_keys(ops, username)
    now = utcnow()
    people = output == "table"

    def when(moment: Any) -> Any:
        return (moment.strftime("%Y-%m-%d %H:%M") if moment else "never") if people else moment

    rows = [
        {
            "prefix": key.prefix,
            "username": owner,
            "name": key.name or "",
            "expires_at": when(key.expires_at),
            "last_used_at": when(key.last_used_at),
            "status": "revoked"
            if key.revoked
            else "expired"
            if key.expires_at and key.expires_at <= now
            else "active",
        }
        for key, owner in found
    ]
    columns = ["prefix", "username", "name", "expires_at", "last_used_at", "status"]
    print_frame(pd.DataFrame(rows, columns=columns), output, "API keys")


@users_app.command("revoke-key")
def revoke_key(
    prefix: Annotated[str, typer.Argument(help="The key's prefix as listed (cxk_...).")],
    output: FormatOpt = "table",
) -> None:
    """Revoke an API key at once."""
    n = _change(lambda auth, ops: auth.revoke_api_key(ops, prefix, actor=actor()))
    print_record({"prefix": prefix, "revoked": n}, output, message=f"revoked {n} key(s) {prefix}")


@users_app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="Login name.")], output: FormatOpt = "table"
) -> None:
    """Disable a user: their sessions end and their API keys stop working."""
    _change(lambda auth, ops: auth.set_active(ops, username, False, actor=actor()))
    print_record({"username": username, "active": False}, output, message=f"disabled {username}")


@users_app.command("enable")
def enable(username: Annotated[str, typer.Argument(help="Login name.")], output: FormatOpt = "table") -> None:
    """Enable a disabled user again."""
    _change(lambda auth, ops: auth.set_active(ops, username, True, actor=actor()))
    print_record({"username": username, "active": True}, output, message=f"enabled {username}")


@users_app.command("delete")
def delete(
    username: Annotated[str, typer.Argument(help="Login name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    output: FormatOpt = "table",
) -> None:
    """Delete a user and their API keys (the audit log keeps their name)."""
    if not yes and not typer.confirm(f"delete user {username} and their API keys?"):
        raise fail("nothing deleted")
    _change(lambda auth, ops: auth.delete_user(ops, username, actor=actor()))
    print_record({"username": username, "deleted": True}, output, message=f"deleted {username}")


@users_app.command("password")
def password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Password,
    output: FormatOpt = "table",
) -> None:
    """Set a user's password; their sessions end."""
    _change(lambda auth, ops: auth.set_password(ops, username, password, actor=actor()))
    message = f"password of {username} changed"
    print_record({"username": username, "password_changed": True}, output, message=message)


@users_app.command("access")
def access(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str | None, typer.Option(help="admin, analyst or store_manager.")] = None,
    store: Annotated[list[str] | None, typer.Option(help="Store id a store manager sees (repeat).")] = None,
    output: FormatOpt = "table",
) -> None:
    """Change a user's role and/or a store manager's stores (applies to their next request)."""
    check_stores(store or [])
    user = _change(lambda auth, ops: auth.set_access(ops, username, role=role, stores=store, actor=actor()))
    scope = f" for stores {', '.join(user.stores)}" if user.stores else ""
    message = f"{username} is now {user.role.replace('_', ' ')}{scope}"
    print_record(
        {"username": username, "role": user.role, "stores": list(user.stores or [])}, output, message=message
    )
