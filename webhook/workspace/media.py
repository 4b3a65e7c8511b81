"""Images in the workspace: agents' uploads (public, for Twilio) and users' (agents only).

Imports webhook (media, config) and Flask. An agent's image is checked by its first bytes (JPEG,
PNG or GIF: what every carrier's MMS takes), size-limited, stored in the instance folder under a
random name, and served at /agent-media/<name> without a sign-in: Twilio fetches it from
there to send the MMS. Users' images, which the worker downloaded from Twilio, are served only
to signed-in agents, by views.inbound_media.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory
from werkzeug.datastructures import FileStorage

from engine.errors import ParleyError
from webhook import get_runtime
from webhook.config import Settings
from webhook.media import IMAGE_TYPES, sniff_image

bp = Blueprint("agent_media", __name__)

MMS_TYPES = ("image/jpeg", "image/png", "image/gif")
UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png|gif)$")


class UploadRefused(ParleyError):
    """An agent's upload that is not an image Parley sends, or too big."""


def upload_folder(settings: Settings) -> Path:
    return Path(settings.instance_path) / "media" / "agent"


def save_upload(upload: FileStorage, *, settings: Settings, max_bytes: int) -> str:
    """Keep an agent's image; returns its runtime-relative URL ("/agent-media/<name>")."""
    data = upload.stream.read(max_bytes + 1)
    if not data:
        raise UploadRefused("Choose an image to send.")
    if len(data) > max_bytes:
        raise UploadRefused(f"The image is over {max_bytes // 1024} KB; send a smaller one.")
    kind = sniff_image(data)
    if kind not in MMS_TYPES:
        raise UploadRefused("Send a JPEG, PNG or GIF image.")
    folder = upload_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16) + IMAGE_TYPES[kind]
    (folder / name).write_bytes(data)
    return f"/agent-media/{name}"


@bp.get("/agent-media/<name>")
def agent_media(name: str) -> Response:
    """An image an agent sent, public so that Twilio can fetch it."""
    if not UPLOAD_NAME.match(name):
        abort(404)
    response = send_from_directory(upload_folder(get_runtime().settings), name, max_age=86400)
    return no_sniff(response)


def no_sniff(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
