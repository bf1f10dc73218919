"""``cxlens users``: staff users of the web app (the first admin, store managers) and API keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from cxlens.cli.common import fail, out, state
from cxlens.ops import OpsStore
from cxlens.web.settings import get_web_settings

if TYPE_CHECKING:
    from types import ModuleType

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


def _create(username: str, password: str, role: str, stores: list[str]) -> None:
    auth = _auth()
    with _ops() as ops:
        try:
            auth.create_user(ops, username, password, role, stores)
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
) -> None:
    """Create an API key for a user and print it (shown once; send it as X-API-Key)."""
    auth = _auth()
    with _ops() as ops:
        try:
            key = auth.create_api_key(ops, username, name)
        except auth.AuthError as exc:
            raise fail(str(exc)) from None
    out.print(key, highlight=False, markup=False)
