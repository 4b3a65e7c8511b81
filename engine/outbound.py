"""The one policy for every request Parley makes to another server. Imports engine.errors only.

Topic `http` data sources and inbound media both GET URLs that someone else chose (a topic
author, a texter's answer, a redirect). `OutboundPolicy.get` is the only way they do it:

- the URL's host must be on an allow-list ("api.example.com", "*.example.com"); https only
  unless an entry allows plain http ("http://host:port"); no user:password@ in URLs;
- the name is resolved once and every address is checked (loopback, link-local, private,
  multicast, reserved and unspecified ranges refused, also when hidden in IPv4-mapped, NAT64
  or 6to4 IPv6). A loopback address is reachable only under an entry that names it with its
  port (a local test server), and then only at loopback addresses;
- the TCP connection goes to the address that was checked, with the name sent as Host and as
  TLS SNI and checked against the certificate: a second DNS answer cannot move it elsewhere;
- redirects are followed by hand, each hop checked again as above;
- no proxy, .netrc or other setting is taken from the environment (plain http.client);
- the body is capped in bytes, and the request in time: connect, each read, and a deadline
  for the whole fetch after which the socket is shut down whatever the server is doing.

`PARLEY_DATA_SOURCE_HOSTS` (empty by default) is read by `data_source_policy` for the runtime,
the designer and the command line alike.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from engine.errors import ConfigError, OutboundRefused, OutboundUnavailable

DATA_SOURCE_SETTING = "DATA_SOURCE_HOSTS"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
Connector = Callable[[str, int, float], socket.socket]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, as text."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def system_connector(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to exactly `address` (an IP literal: no name lookup happens here)."""
    return socket.create_connection((address, port), timeout=timeout)


def _default_tls() -> ssl.SSLContext:
    try:  # the CA bundle requests uses, where it is installed; else the system's
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with requests
        return ssl.create_default_context()


# -- Which hosts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostRule:
    """One allow-list entry: a name or "*.name", an optional port, plain http or not."""

    host: str
    port: int | None = None
    plain_http: bool = False
    loopback: bool = False  # an explicitly named local server: loopback addresses only

    @classmethod
    def parse(cls, entry: str, *, setting: str, loopback: bool | None = None) -> HostRule:
        """Parse "host", "*.host", "host:port", "https://host" or "http://host:port".

        `loopback=None` lets an entry that names a loopback address or localhost with its
        port reach it; True requires such an entry; False never allows loopback.
        """
        text = entry.strip().lower()
        scheme = "https"
        if "://" in text:
            scheme, _, text = text.partition("://")
        text = text.rstrip("/")
        if text.count(":") > 1 and not text.startswith("["):
            text = f"[{text}]"  # a bare IPv6 address
        try:
            parts = urlsplit(f"//{text}")
            host, port = parts.hostname or "", parts.port
            plain = not (parts.path or parts.username or parts.query or parts.fragment)
        except ValueError:
            host, port, plain = "", None, False
        wildcard = host.startswith("*") and not (host.startswith("*.") and len(host) > 2)
        if scheme not in ("http", "https") or not host or not plain or "*" in host[1:] \
                or wildcard:
            raise ConfigError(f"PARLEY_{setting} entry {entry!r} is not a host name such as "
                              "api.example.com, *.example.com or http://host:8080.")
        names_loopback = port is not None and is_loopback_name(host)
        if loopback and not names_loopback:
            raise ConfigError(f"PARLEY_{setting} may only name loopback hosts with their port, "
                              f"such as 127.0.0.1:8081, not {entry!r}.")
        return cls(host, port, plain_http=scheme == "http" or bool(loopback),
                   loopback=names_loopback if loopback is not False else False)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return host == self.host


def is_loopback_name(host: str) -> bool:
    """Whether a host name or address names this machine (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_entries(value: Any, *, setting: str) -> tuple[str, ...]:
    """A list setting (hosts, numbers): a comma- or space-separated string, or a list of
    strings; lower-cased, as host names compare."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"PARLEY_{setting} must be a list of names (comma-separated).")
    return tuple(v.strip().lower() for v in value if v.strip())


def public_address(address: Address) -> bool:
    """True for an address on the public internet; IPv4 hidden in IPv6 is unwrapped."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None)
        if address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            return public_address(embedded)
    return address.is_global and not (
        address.is_multicast or address.is_private or address.is_loopback
        or address.is_link_local or address.is_reserved or address.is_unspecified)


# -- The policy -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fetched:
    """What a server answered: the final URL, status, headers and the (capped) body."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower-case, without IPv6 brackets
    port: int
    target: str  # path and query, as sent
    rule: HostRule

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        try:  # a header is ASCII: an international name goes in its IDNA form
            name = self.host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise OutboundRefused(f"{self.host!r} is not a valid host name") from exc
        name = f"[{name}]" if ":" in name else name
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


@dataclass(frozen=True)
class OutboundPolicy:
    """Where Parley may send a GET, and within which limits. See the module docstring."""

    hosts: tuple[HostRule, ...] = ()
    what: str = "data source"  # in messages: "... is not an allowed data source host"
    setting: str = DATA_SOURCE_SETTING  # the setting that holds the list, for messages
    max_bytes: int = 1_000_000
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 20.0  # seconds for the whole fetch, redirects included
    max_redirects: int = 3
    resolver: Resolver = field(default=system_resolver, compare=False)
    connector: Connector = field(default=system_connector, compare=False)
    tls: ssl.SSLContext | None = field(default=None, compare=False)

    @classmethod
    def from_entries(cls, entries: Any, *, setting: str = DATA_SOURCE_SETTING,
                     loopback_entries: bool = True, test_entries: Any = (),
                     test_setting: str = "", **options: Any) -> OutboundPolicy:
        """A policy from setting values (strings or lists); ConfigError for a bad entry.

        With `loopback_entries`, an entry naming a loopback host with its port reaches it;
        `test_entries` (under `test_setting`) may only name such loopback test servers.
        """
        rules = [HostRule.parse(e, setting=setting, loopback=None if loopback_entries else False)
                 for e in host_entries(entries, setting=setting)]
        rules += [HostRule.parse(e, setting=test_setting, loopback=True)
                  for e in host_entries(test_entries, setting=test_setting)]
        return cls(tuple(rules), setting=setting, **options)

    def with_time(self, seconds: float) -> OutboundPolicy:
        """The same policy with `seconds` for the whole fetch (and no longer for any part)."""
        return replace(self, connect_timeout=min(self.connect_timeout, seconds),
                       read_timeout=min(self.read_timeout, seconds), deadline=seconds)

    # .. checks that need no network ..

    def refusal(self, url: str) -> str | None:
        """Why `url` may not be fetched (scheme, host, list), or None; no name lookup."""
        try:
            self._target(url)
        except OutboundRefused as exc:
            return str(exc)
        return None

    def check_url(self, url: str, *, resolve: bool = False) -> None:
        """Raise OutboundRefused for a URL the policy refuses; with `resolve`, check addresses."""
        target = self._target(url)
        if resolve:
            self._addresses(target)

    def _target(self, url: str) -> _Target:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            port = parts.port
        except ValueError as exc:
            # urlsplit raises on e.g. "https://[" or a port out of range: refuse, never crash.
            raise OutboundRefused(f"{url!r} is not a URL") from exc
        if parts.scheme not in ("http", "https") or not host or parts.username \
                or parts.password:
            raise OutboundRefused(f"{url!r} is not a plain URL with a host")
        port = port or (443 if parts.scheme == "https" else 80)
        rule = next((r for r in self.hosts if r.matches(host, port)), None)
        listed = "is empty" if not self.hosts else "does not list it"
        if parts.scheme != "https" and rule is None:
            raise OutboundRefused(f"{self.what} must come over https, not {parts.scheme}, "
                                  f"from an allowed host: PARLEY_{self.setting} {listed}")
        if parts.scheme != "https" and not rule.plain_http:
            raise OutboundRefused(f"{self.what} must come over https, not {parts.scheme} "
                                  f"(list http://{host}:{port} in PARLEY_{self.setting} to "
                                  "allow plain http)")
        if rule is None:
            raise OutboundRefused(f"{host} is not an allowed {self.what} host: "
                                  f"PARLEY_{self.setting} {listed}")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        # A request line is ASCII without spaces: encode what is not (as browsers do), and
        # leave what is already percent-encoded as it is.
        target = quote(target, safe="!#$%&'()*+,/:;=?@[]~")
        return _Target(parts.scheme, host, port, target, rule)

    def _addresses(self, target: _Target) -> list[str]:
        try:
            found = self.resolver(target.host, target.port)
        except UnicodeError as exc:
            # The IDNA codec refuses names such as "x..twiliocdn.com" (matched by *.twiliocdn.com).
            raise OutboundRefused(f"{target.host!r} is not a valid host name") from exc
        except OSError as exc:
            raise OutboundUnavailable(f"cannot resolve {target.host}: {exc}") from exc
        if not found:
            raise OutboundUnavailable(f"{target.host} has no address")
        for text in found:
            address = ipaddress.ip_address(text.split("%")[0])
            allowed = address.is_loopback if target.rule.loopback else public_address(address)
            if not allowed:
                raise OutboundRefused(f"{target.host} resolves to a non-public address {text}")
        return found

    # .. the request ..

    def get(self, url: str, *, headers: Mapping[str, str] | None = None,
            first_host_headers: Mapping[str, str] | None = None,
            inspect: Callable[[int, Mapping[str, str]], None] | None = None) -> Fetched:
        """GET `url` within the policy, following redirects; the body is at most max_bytes.

        `first_host_headers` (credentials) go only to the scheme, host and port of `url`.
        `inspect(status, headers)` may raise to refuse an answer before its body is read.
        Raises OutboundRefused (never worth retrying) or OutboundUnavailable (may pass).
        """
        ends = time.monotonic() + self.deadline
        first = None
        for _hop in range(self.max_redirects + 1):
            target = self._target(url)
            first = first or target.origin
            addresses = self._addresses(target)
            sent = {"Host": target.host_header, "User-Agent": "Parley",
                    "Accept-Encoding": "identity", **(headers or {})}
            if target.origin == first:
                sent.update(first_host_headers or {})
            with _Exchange(self, target, addresses, sent, ends) as exchange:
                response = exchange.response
                if response.status in REDIRECTS and response.getheader("Location"):
                    try:
                        url = urljoin(url, response.getheader("Location", ""))
                    except ValueError as exc:  # e.g. "http://[": refuse, never crash
                        raise OutboundRefused(f"{url} answered with a malformed redirect") \
                            from exc
                    continue
                answer = {k.title(): v for k, v in response.getheaders()}
                if inspect is not None:
                    inspect(response.status, answer)
                return Fetched(url, response.status, answer, exchange.body(answer, url))
        raise OutboundRefused(f"more than {self.max_redirects} redirects")


class _Connection(http.client.HTTPConnection):
    """http.client to a checked address; TLS with the host's name as SNI and for the cert."""

    def __init__(self, policy: OutboundPolicy, target: _Target, address: str, timeout: float):
        super().__init__(address, target.port, timeout=timeout)
        self._policy, self._target, self._address = policy, target, address

    def connect(self) -> None:
        self.sock = self._policy.connector(self._address, self._target.port, self.timeout)
        self.sock.settimeout(self._policy.read_timeout)
        if self._target.scheme == "https":
            context = self._policy.tls or _default_tls()
            self.sock = context.wrap_socket(self.sock, server_hostname=self._target.host)
        # http.client drops `sock` once a response that closes the connection is read; the
        # deadline still needs it.
        self.live_socket = self.sock


class _Exchange:
    """One request and its response, under the policy's deadline (a context manager)."""

    def __init__(self, policy: OutboundPolicy, target: _Target, addresses: list[str],
                 headers: dict, ends: float):
        self.policy, self.target, self.addresses = policy, target, addresses
        self.headers, self.ends = headers, ends
        self.connection: _Connection | None = None
        self.timer: threading.Timer | None = None
        self.expired = False
        self.response: http.client.HTTPResponse | None = None

    def __enter__(self) -> _Exchange:
        policy, target = self.policy, self.target
        failure: Exception | None = None
        for address in self.addresses:  # each one was checked; try them in order
            remaining = self.ends - time.monotonic()
            if remaining <= 0:
                break
            connection = _Connection(policy, target, address,
                                     min(policy.connect_timeout, remaining))
            try:
                connection.connect()
            except OSError as exc:  # ssl.SSLError included
                connection.close()
                failure = exc
                continue
            self.connection = connection
            break
        if self.connection is None:
            raise OutboundUnavailable(f"cannot connect to {target.host}:{target.port}: "
                                      f"{failure or 'no time left'}")
        # The deadline holds whatever the server does (a trickle of header bytes included):
        # past it, the socket is shut down under the blocked read.
        self.timer = threading.Timer(max(0.0, self.ends - time.monotonic()), self._expire)
        self.timer.daemon = True
        self.timer.start()
        try:
            self.connection.request("GET", target.target, headers=self.headers)
            self.response = self.connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self.__exit__()
            raise self._late() or OutboundUnavailable(
                f"cannot fetch from {target.host}: {exc}") from exc
        if self.expired:  # the headers were cut off
            self.__exit__()
            raise self._late()
        return self

    def body(self, headers: Mapping[str, str], url: str) -> bytes:
        """The response's body, refused past max_bytes and cut at the deadline."""
        limit, what = self.policy.max_bytes, self.policy.what
        length = headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise OutboundRefused(f"the {what} is {length} bytes, over {limit}")
        data = bytearray()
        try:
            while chunk := self.response.read1(_CHUNK):
                data += chunk
                if len(data) > limit:
                    raise OutboundRefused(f"the {what} is over {limit} bytes")
        except (OSError, http.client.HTTPException) as exc:
            raise self._late() or OutboundUnavailable(
                f"the download of {url} broke off: {exc}") from exc
        if self.expired:  # the body was cut off
            raise self._late()
        return bytes(data)

    def _late(self) -> OutboundUnavailable | None:
        if not self.expired and time.monotonic() < self.ends:
            return None
        return OutboundUnavailable(f"{self.target.host} took longer than "
                                   f"{self.policy.deadline:g}s")

    def _expire(self) -> None:
        self.expired = True
        sock = getattr(self.connection, "live_socket", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __exit__(self, *exc: object) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.response is not None:
            self.response.close()
        if self.connection is not None:
            self.connection.close()
            live = getattr(self.connection, "live_socket", None)
            if live is not None:
                live.close()


# -- Settings ---------------------------------------------------------------------------------

def data_source_policy(config: Mapping[str, Any] | None = None) -> OutboundPolicy:
    """The data-source policy of a settings mapping (a Flask config: DATA_SOURCE_HOSTS), or,
    without one, of the PARLEY_DATA_SOURCE_HOSTS environment variable (the command line).

    Raises ConfigError for an entry that is not a host.
    """
    if config is None:
        value = os.environ.get(f"PARLEY_{DATA_SOURCE_SETTING}")
    else:
        value = config.get(DATA_SOURCE_SETTING)
    return OutboundPolicy.from_entries(value)
