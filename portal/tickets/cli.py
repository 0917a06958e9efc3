from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.accounts import services as accounts
from portal.tickets import services

tickets_cli = AppGroup("tickets", help="Ticket maintenance.")


@tickets_cli.command("sweep")
def sweep() -> None:
    """Record SLA breaches, escalate them, and close long-solved tickets (run from cron)."""
    report = services.sweep_slas()
    click.echo(
        f"SLA sweep: {report.breaches} new breach(es), {report.escalated} ticket(s) escalated, "
        f"{report.closed} solved ticket(s) closed."
    )


teams_cli = AppGroup("teams", help="Teams, their agents and tiers.")
tickets_cli.add_command(teams_cli)


def _team_error(error: services.TicketError) -> click.ClickException:
    return click.ClickException(f"{error.field}: {error.message}")


@teams_cli.command("list")
def list_teams() -> None:
    """Teams with their agents, tiers and open tickets."""
    found = services.list_teams()
    if not found:
        click.echo("No teams yet: `portal tickets teams create SLUG NAME`.")
    for team in found:
        default = " (default)" if team.is_default else ""
        click.echo(f"{team.slug}: {team.name}{default}, new tickets {team.assignment}, "
                   f"{team.open_tickets} open")
        for member in team.members:
            click.echo(f"  {member.tier_label}  {member.email} ({member.open_tickets} open)")


@teams_cli.command("create")
@click.argument("slug")
@click.argument("name")
@click.option("--assignment", default="manual", show_default=True,
              help="manual, round-robin or least-loaded")
@click.option("--default", "make_default", is_flag=True, help="Unmatched tickets go here.")
def create_team(slug: str, name: str, assignment: str, make_default: bool) -> None:
    """Create a team (SLUG is the short name routing rules use)."""
    try:
        team = services.create_team(slug, name, assignment=assignment, default=make_default)
    except services.TicketError as error:
        raise _team_error(error) from error
    click.echo(f"Created team {team.slug}{' (default)' if team.is_default else ''}.")


@teams_cli.command("set")
@click.argument("slug")
@click.option("--name")
@click.option("--assignment", help="manual, round-robin or least-loaded")
@click.option("--default", "make_default", is_flag=True, help="Make it the default team.")
def update_team(slug: str, name: str | None, assignment: str | None, make_default: bool) -> None:
    """Rename a team, change how it assigns new tickets, or make it the default."""
    try:
        team = services.update_team(slug, name=name, assignment=assignment, default=make_default)
    except services.TicketError as error:
        raise _team_error(error) from error
    click.echo(f"Updated team {team.slug}.")


@teams_cli.command("add-agent")
@click.argument("email")
@click.argument("slug")
@click.option("--tier", default="L1", show_default=True, help="L1, L2 or L3")
def add_agent(email: str, slug: str, tier: str) -> None:
    """Put an agent in a team at a tier (moves them if they were in another team)."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account with the email {email}.")
    try:
        services.set_membership(user.id, slug, tier)
    except services.TicketError as error:
        raise _team_error(error) from error
    click.echo(f"{user.email} is now in {slug} at {tier.upper()}.")


@teams_cli.command("remove-agent")
@click.argument("email")
def remove_agent(email: str) -> None:
    """Take an agent out of their team."""
    user = accounts.find_user_by_email(email)
    if user is None or not services.remove_membership(user.id):
        raise click.ClickException(f"{email} is not in a team.")
    click.echo(f"{email} removed from their team.")


@tickets_cli.command("routing")
def routing_check() -> None:
    """Re-read the routing rule file and report: active rules, a refused file, warnings."""
    status = services.routing_status(force=True)
    if status.error is not None:
        click.echo(f"Refused {status.path}: {status.error}", err=True)
        click.echo("The previous rules stay active.", err=True)
    elif not status.exists:
        click.echo(f"No rule file at {status.path}: every ticket goes to the default team.")
    if status.active is not None:
        click.echo(f"{len(status.active.rules)} rule(s) active from {status.active.origin}.")
        for warning in status.active.warnings:
            click.echo(f"Warning: {warning}")
    if status.error is not None:
        raise SystemExit(1)


@tickets_cli.command("route-preview")
@click.option("--subject", required=True)
@click.option("--description", default="")
@click.option("--category", default=None)
@click.option("--source", default="form", type=click.Choice(["form", "chat", "email"]))
@click.option("--requester", default="someone@example.com", show_default=True)
@click.option("--priority", default="normal",
              type=click.Choice(["low", "normal", "high", "urgent"]))
def route_preview(subject: str, description: str, category: str | None, source: str,
                  requester: str, priority: str) -> None:
    """Show where a sample ticket would go (nothing is created)."""
    result = services.route(subject=subject, description=description or subject,
                            category=category, source=source, requester_email=requester,
                            priority=priority, dry_run=True)
    click.echo(f"Rules fired: {', '.join(result.fired) or 'none'}")
    click.echo(f"Team: {result.team_name or '(none)'}  Tier: {result.tier_label}  "
               f"Priority: {result.priority}  Assignee: {result.assignee_name or '(none)'}")
    if result.tags:
        click.echo(f"Tags: {', '.join(result.tags)}")
    for note in result.notes:
        click.echo(f"Note: {note}")
    if result.loop:
        click.echo(result.loop)


def demo_teams_step() -> None:
    """The `demo setup` step: demo teams, and the demo agents in them."""
    from portal.tickets.teams import ensure_demo_teams

    for line in ensure_demo_teams():
        click.echo(f"  {line}")
