"""Images in the workspace: agents' uploads (public, for Twilio) and users' (agents only).

Imports engine (errors, store), webhook (db, media) and Flask. An agent's image is checked by
its first bytes (JPEG, PNG or GIF: what every carrier's MMS takes), size-limited, kept in the
database under a random name (so that whichever node Twilio reaches has it), and served at
/agent-media/<name> without a sign-in: Twilio fetches it from there to send the MMS. Users'
images, which the worker downloaded from Twilio, are served only to signed-in agents, by
views.inbound_media.
"""

from __future__ import annotations

import re
import secrets

from flask import Blueprint, Response, abort
from werkzeug.datastructures import FileStorage

from engine.errors import ParleyError
from engine.store import Store
from webhook import get_runtime
from webhook.db import get_db
from webhook.media import IMAGE_TYPES, sniff_image, stored_photo

bp = Blueprint("agent_media", __name__)

MMS_TYPES = ("image/jpeg", "image/png", "image/gif")
UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png|gif)$")


class UploadRefused(ParleyError):
    """An agent's upload that is not an image Parley sends, or too big."""


def save_upload(upload: FileStorage, *, store: Store, max_bytes: int) -> str:
    """Keep an agent's image; returns its runtime-relative URL ("/agent-media/<name>")."""
    data = upload.stream.read(max_bytes + 1)
    if not data:
        raise UploadRefused("Choose an image to send.")
    if len(data) > max_bytes:
        raise UploadRefused(f"The image is over {max_bytes // 1024} KB; send a smaller one.")
    kind = sniff_image(data)
    if kind not in MMS_TYPES:
        raise UploadRefused("Send a JPEG, PNG or GIF image.")
    name = secrets.token_hex(16) + IMAGE_TYPES[kind]
    with store.write():
        store.save_media_file(f"media/agent/{name}", data, content_type=kind)
    return f"/agent-media/{name}"


@bp.get("/agent-media/<name>")
def agent_media(name: str) -> Response:
    """An image an agent sent, public so that Twilio can fetch it."""
    if not UPLOAD_NAME.match(name):
        abort(404)
    photo = stored_photo(get_db(), f"media/agent/{name}", get_runtime().settings)
    if photo is None:
        abort(404)
    response = Response(photo["data"], mimetype=photo["content_type"])
    response.headers["Cache-Control"] = "public, max-age=86400"
    return no_sniff(response)


def no_sniff(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
