"""Checking that a request comes from Twilio, and the public URLs Twilio knows us by.

Imports the webhook package's Runtime and the twilio library. The URL a signature covers is
rebuilt from PARLEY_PUBLIC_URL (so it holds behind a proxy or on another port), never from the
Host or X-Forwarded-* headers of the request (those count only when TRUST_PROXY is set, and
only in the sandbox, which has no public URL).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from urllib.parse import quote

from flask import abort, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

log = logging.getLogger(__name__)

# Characters a URL path keeps as they are (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def public_root() -> str:
    """The runtime's public base URL, without a trailing slash."""
    from webhook import get_runtime

    settings = get_runtime().settings
    return settings.public_url or request.root_url.rstrip("/")


def public_url(path: str, query: str = "") -> str:
    """The public URL of a path of this runtime ("/twilio/sms")."""
    return public_root() + quote(path, safe=_PATH_SAFE) + (f"?{query}" if query else "")


def signed_url() -> str:
    """The URL Twilio signed for the current request: public base + path + query string."""
    return public_url(request.path, request.query_string.decode("latin-1"))


def sign(url: str, params: dict, token: str) -> str:
    """The X-Twilio-Signature Twilio would send (used by the sandbox phone)."""
    return RequestValidator(token).compute_signature(url, params)


def twilio_request(view: Callable) -> Callable:
    """Answer 403 (and do nothing else) unless the request carries Twilio's valid signature
    for this runtime's auth token and account."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        from webhook import get_runtime

        settings = get_runtime().settings
        signature = request.headers.get(SIGNATURE_HEADER, "")
        form = request.form  # 413 here when the body is over MAX_CONTENT_LENGTH
        if not signature:
            log.warning("refused %s: no %s header", request.path, SIGNATURE_HEADER)
            abort(403)
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        url = signed_url()
        if not RequestValidator(settings.auth_token).validate(url, form, signature, algorithm):
            log.warning("refused %s: the signature does not match %s", request.path, url)
            abort(403)
        if form.get("AccountSid") != settings.account_sid:
            log.warning("refused %s: account %r is not this runtime's", request.path,
                        form.get("AccountSid"))
            abort(403)
        return view(*args, **kwargs)

    return checked
