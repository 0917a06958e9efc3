"""Downloading the files that came with an email: for the ticket's agents and requester."""

from __future__ import annotations

from typing import Any

from flask import abort, send_file
from flask_login import login_required

from portal.accounts.decorators import public
from portal.extensions import db
from portal.tickets.blueprint import bp, tracked_ticket, user_ticket
from portal.tickets.mail import intake
from portal.tickets.mail.models import TicketAttachment
from portal.tickets.models import Ticket
from portal.untrusted import content_disposition, file_name

# Files are always downloaded, never shown in the portal's origin (an HTML or SVG file
# from a stranger would run there); these types keep their name for the browser.
_PLAIN_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain"}


def _download(ticket: Ticket, attachment_id: int) -> Any:
    attachment = db.session.get(TicketAttachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket.id:
        abort(404)
    path = intake.attachment_file(attachment)
    if path is None:
        abort(404)
    mimetype = attachment.content_type if attachment.content_type in _PLAIN_TYPES \
        else "application/octet-stream"
    # Rows stored before names were neutralised on arrival get the same treatment here.
    name = file_name(attachment.filename) or f"attachment-{attachment.id}"
    response = send_file(path, mimetype=mimetype, as_attachment=True, download_name=name,
                         max_age=0)
    # The portal's one builder makes the name safe to send as a header, in any script.
    response.headers["Content-Disposition"] = content_disposition(name)
    return response


@bp.route("/<int:number>/attachments/<int:attachment_id>")
@login_required
def attachment(number: int, attachment_id: int) -> Any:
    return _download(user_ticket(number), attachment_id)


@bp.route("/track/<token>/attachments/<int:attachment_id>")
@public
def track_attachment(token: str, attachment_id: int) -> Any:
    ticket = tracked_ticket(token)
    if not isinstance(ticket, Ticket):
        return ticket
    return _download(ticket, attachment_id)
