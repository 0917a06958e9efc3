from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.accounts import services
from portal.accounts.models import Role

users_cli = AppGroup("users", help="Manage accounts.")

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - printed for demo logins
DEMO_USERS = [
    ("customer@example.com", "Casey Customer", Role.CUSTOMER),
    ("customer2@example.com", "Robin Reader", Role.CUSTOMER),
    ("agent@example.com", "Alex Agent", Role.AGENT),
    ("agent2@example.com", "Sam Support", Role.AGENT),
    ("agent3@example.com", "Jordan Expert", Role.AGENT),
    ("agent4@example.com", "Gale Generalist", Role.AGENT),
    ("editor@example.com", "Eden Editor", Role.EDITOR),
    ("manager@example.com", "Morgan Manager", Role.MANAGER),
    ("admin@example.com", "Ari Admin", Role.ADMIN),
]


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.CUSTOMER.value)
@click.password_option()
def create_user(email: str, name: str, role: str, password: str) -> None:
    """Create an account (the password is asked for twice)."""
    try:
        user = services.create_user(email, name, password, Role(role))
    except services.AccountError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from error
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


def ensure_demo_users() -> list[tuple[str, str]]:
    created = []
    for email, name, role in DEMO_USERS:
        if services.find_user_by_email(email) is None:
            services.create_user(email, name, DEMO_PASSWORD, role)
        created.append((email, str(role)))
    return created


@users_cli.command("demo")
def demo_users() -> None:
    """Create one demo account per role (idempotent)."""
    for email, role in ensure_demo_users():
        click.echo(f"  {role:<9} {email} / {DEMO_PASSWORD}")
