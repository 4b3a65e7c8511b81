"""The outbound policy: every request Parley makes stays on allowed public hosts, within limits.

Only loopback traffic: "public" hosts are names a test resolver answers for, and the connector
that would reach them is pointed at a local endpoint.
"""

from __future__ import annotations

import socket
import ssl
import time

import pytest

from engine.errors import ConfigError, OutboundRefused, OutboundUnavailable
from engine.outbound import OutboundPolicy, data_source_policy
from tests.support.endpoint import Endpoint

PUBLIC = "93.184.216.34"  # an address on the public internet (never contacted)


@pytest.fixture
def endpoint():
    with Endpoint() as endpoint:
        yield endpoint


@pytest.fixture
def other():
    with Endpoint() as other:
        yield other


class Dialer:
    """Stands in for the network: records each address dialled, and reaches `endpoint`."""

    def __init__(self, endpoint: Endpoint | None = None):
        self.endpoint, self.dialled = endpoint, []

    def __call__(self, address: str, port: int, timeout: float) -> socket.socket:
        self.dialled.append(address)
        if self.endpoint is None:
            raise AssertionError(f"connected to {address}")
        return socket.create_connection(("127.0.0.1", self.endpoint.port), timeout=timeout)


def answers(*addresses: str):
    """A resolver that always answers `addresses`, counting the lookups."""
    def resolve(host: str, port: int) -> list[str]:
        resolve.calls.append(host)
        return list(addresses)
    resolve.calls = []
    return resolve


class TestWhichUrls:
    def test_nothing_is_allowed_by_default(self):
        with pytest.raises(OutboundRefused, match="PARLEY_DATA_SOURCE_HOSTS is empty"):
            OutboundPolicy().check_url("https://api.example.com/cases")
        assert data_source_policy({}).hosts == ()

    @pytest.mark.parametrize("url", [
        "https://api.example.com/x", "https://eu.svc.example.org/x?q=1",
        "https://api.example.com:8443/x",
    ])
    def test_listed_hosts_and_wildcards(self, url):
        OutboundPolicy.from_entries("api.example.com, *.example.org").check_url(url)

    @pytest.mark.parametrize("url, why", [
        ("https://example.org/x", "not an allowed data source host"),  # * is not the apex
        ("https://api.example.com.evil.test/x", "not an allowed data source host"),
        ("http://api.example.com/x", "https, not http"),
        ("ftp://api.example.com/x", "not a plain URL"),
        ("file:///etc/passwd", "not a plain URL"),
        ("gopher://api.example.com/", "not a plain URL"),
        ("https://user:pw@api.example.com/x", "not a plain URL"),
        ("https://[", "not a URL"),
        ("https://api.example.com:99999/x", "not a URL"),
    ])
    def test_anything_else_is_refused_before_any_lookup(self, url, why):
        policy = OutboundPolicy.from_entries("api.example.com, *.example.org",
                                             resolver=answers(PUBLIC), connector=Dialer())
        with pytest.raises(OutboundRefused, match=why):
            policy.get(url)
        assert policy.resolver.calls == []

    def test_plain_http_only_for_an_entry_that_says_so(self):
        policy = OutboundPolicy.from_entries("http://legacy.example.com:8080, api.example.com")
        policy.check_url("http://legacy.example.com:8080/x")
        for url in ("http://legacy.example.com:8081/x", "http://api.example.com/x"):
            with pytest.raises(OutboundRefused, match="https"):
                policy.check_url(url)

    @pytest.mark.parametrize("entry", ["ftp://x.example.com", "api.example.com/path",
                                       "a.*.example.com", "user@api.example.com", "https://",
                                       "*example.com", "*."])
    def test_a_setting_that_is_not_a_host_stops_the_start(self, entry):
        with pytest.raises(ConfigError, match="PARLEY_DATA_SOURCE_HOSTS entry"):
            data_source_policy({"DATA_SOURCE_HOSTS": [entry]})

    def test_the_command_line_reads_the_same_setting(self, monkeypatch):
        monkeypatch.setenv("PARLEY_DATA_SOURCE_HOSTS", "api.example.com,*.example.org")
        assert data_source_policy() == data_source_policy(
            {"DATA_SOURCE_HOSTS": ["api.example.com", "*.example.org"]})


class TestAddresses:
    @pytest.mark.parametrize("address", [
        "127.0.0.1", "127.8.8.8", "169.254.169.254", "10.0.0.8", "172.16.5.4", "192.168.1.1",
        "100.64.0.1", "0.0.0.0", "224.0.0.251", "240.0.0.1", "255.255.255.255",
        "::1", "::", "fe80::1", "fc00::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
        "64:ff9b::7f00:1", "2002:7f00:1::1",
    ])
    def test_a_listed_name_that_resolves_to_a_non_public_address_is_never_dialled(
            self, address):
        dialer = Dialer()
        policy = OutboundPolicy.from_entries("api.example.com", resolver=answers(address),
                                             connector=dialer)
        with pytest.raises(OutboundRefused, match="non-public address"):
            policy.get("https://api.example.com/x")
        assert dialer.dialled == []

    def test_one_private_address_among_public_ones_is_enough_to_refuse(self):
        dialer = Dialer()
        policy = OutboundPolicy.from_entries(
            "api.example.com", resolver=answers(PUBLIC, "10.1.2.3"), connector=dialer)
        with pytest.raises(OutboundRefused, match="10.1.2.3"):
            policy.get("https://api.example.com/x")
        assert dialer.dialled == []

    @pytest.mark.parametrize("url", [
        "https://127.0.0.1/x", "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/x", "https://[::ffff:127.0.0.1]/x", "https://[::1]/x",
        "https://localhost/x",
    ])
    def test_addresses_written_in_the_url_are_checked_too(self, url):
        # Even an operator who lists the address itself does not open the metadata service.
        entries = ["127.0.0.1", "169.254.169.254", "10.0.0.1", "::ffff:127.0.0.1", "[::1]",
                   "localhost"]
        with pytest.raises(OutboundRefused, match="non-public address"):
            OutboundPolicy.from_entries(entries).get(url)

    def test_a_loopback_server_only_when_listed_with_its_port(self, endpoint):
        endpoint.routes["/x"] = {"ok": True}
        policy = OutboundPolicy.from_entries([f"http://{endpoint.netloc}"])
        assert policy.get(f"{endpoint.base_url}/x").body == b'{"ok": true}'
        with pytest.raises(OutboundRefused):
            policy.get(f"http://127.0.0.1:{endpoint.port + 1}/x")
        with pytest.raises(OutboundRefused, match="non-public address"):
            OutboundPolicy.from_entries([f"http://localhost.example.com:{endpoint.port}"],
                                        resolver=answers("127.0.0.1")).get(
                f"http://localhost.example.com:{endpoint.port}/x")


class TestRebinding:
    def test_the_connection_goes_to_the_address_that_was_checked(self, endpoint):
        # The resolver answers a public address, then loopback to anyone who asks again: a
        # client that looks the name up a second time to connect would reach loopback.
        endpoint.routes["/cases"] = {"cases": []}
        answers_given = iter([[PUBLIC], ["127.0.0.1"]] * 5)

        def rebinding(host: str, port: int) -> list[str]:
            rebinding.calls.append(host)
            return next(answers_given)
        rebinding.calls = []
        dialer = Dialer(endpoint)  # the "public" server is our endpoint
        url = f"http://api.example.com:{endpoint.port}/cases"
        policy = OutboundPolicy.from_entries([f"http://api.example.com:{endpoint.port}"],
                                             resolver=rebinding, connector=dialer)
        fetched = policy.get(url)
        assert fetched.body == b'{"cases": []}'
        assert rebinding.calls == ["api.example.com"]  # looked up once
        assert dialer.dialled == [PUBLIC]  # and dialled at the checked address
        assert endpoint.requests[0].headers["Host"] == f"api.example.com:{endpoint.port}"

    def test_a_rebound_answer_is_refused_when_it_is_the_one_checked(self):
        dialer = Dialer()
        policy = OutboundPolicy.from_entries("api.example.com", resolver=answers("127.0.0.1"),
                                             connector=dialer)
        with pytest.raises(OutboundRefused, match="non-public"):
            policy.get("https://api.example.com/x")
        assert dialer.dialled == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for api.example.com (certificate file, key file)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.example.com")]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256()))
    with open(cert, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key, "wb") as handle:
        handle.write(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert, key


class TestTls:
    """https to the checked address: the name goes in SNI and is checked against the cert."""

    @pytest.fixture
    def secure(self, certificate):
        with Endpoint(tls=certificate) as secure:
            secure.routes["/x"] = {"tls": True}
            yield secure

    def policy(self, secure: Endpoint, certificate, dialer: Dialer) -> OutboundPolicy:
        return OutboundPolicy.from_entries(
            "api.example.com, *.example.net", resolver=answers(PUBLIC), connector=dialer,
            tls=ssl.create_default_context(cafile=certificate[0]))

    def test_the_name_is_sent_as_sni_while_the_checked_address_is_dialled(
            self, secure, certificate):
        dialer = Dialer(secure)
        fetched = self.policy(secure, certificate, dialer).get(
            f"https://api.example.com:{secure.port}/x")
        assert fetched.body == b'{"tls": true}'
        assert dialer.dialled == [PUBLIC] and secure.server_names == ["api.example.com"]
        assert secure.requests[0].headers["Host"] == f"api.example.com:{secure.port}"

    def test_a_certificate_for_another_name_is_refused(self, secure, certificate):
        with pytest.raises(OutboundUnavailable, match="certificate"):
            self.policy(secure, certificate, Dialer(secure)).get(
                f"https://other.example.net:{secure.port}/x")
        assert secure.requests == []


class TestRedirects:
    def policy(self, *endpoints: Endpoint, **options) -> OutboundPolicy:
        return OutboundPolicy.from_entries([f"http://{e.netloc}" for e in endpoints], **options)

    @pytest.mark.parametrize("target", [
        "http://{other}/secret",  # loopback, not on the list
        "http://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]:{other_port}/secret",
        "ftp://{other}/secret",
        "file:///etc/passwd",
        "http://[",
    ])
    def test_each_hop_is_checked_again(self, endpoint, other, target):
        other.routes["/secret"] = {"secret": True}
        endpoint.routes["/start"] = ("redirect", target.format(
            other=other.netloc, other_port=other.port))
        with pytest.raises(OutboundRefused):
            self.policy(endpoint).get(f"{endpoint.base_url}/start")
        assert other.requests == [] and endpoint.paths == ["/start"]

    def test_an_allowed_hop_is_followed_without_the_first_hosts_credentials(
            self, endpoint, other):
        other.routes["/data"] = [1, 2]
        endpoint.routes["/start"] = ("redirect", f"{other.base_url}/data")
        fetched = self.policy(endpoint, other).get(
            f"{endpoint.base_url}/start", first_host_headers={"Authorization": "Basic x"})
        assert fetched.body == b"[1, 2]" and fetched.url == f"{other.base_url}/data"
        assert endpoint.requests[0].headers["Authorization"] == "Basic x"
        assert "Authorization" not in other.requests[0].headers

    def test_a_redirect_loop_ends(self, endpoint):
        endpoint.routes["/a"] = ("redirect", "/b")
        endpoint.routes["/b"] = ("redirect", "/a")
        with pytest.raises(OutboundRefused, match="more than 3 redirects"):
            self.policy(endpoint).get(f"{endpoint.base_url}/a")
        assert len(endpoint.requests) == 4


class TestLimits:
    def policy(self, endpoint: Endpoint, **options) -> OutboundPolicy:
        return OutboundPolicy.from_entries([f"http://{endpoint.netloc}"], **options)

    def test_a_body_over_the_cap_is_refused_by_its_length(self, endpoint):
        endpoint.routes["/big"] = ("huge", 50 * 1024 * 1024, True)
        with pytest.raises(OutboundRefused, match="52428800 bytes, over 100000"):
            self.policy(endpoint, max_bytes=100_000).get(f"{endpoint.base_url}/big")

    def test_a_stream_without_a_length_is_cut_at_the_cap(self, endpoint):
        endpoint.routes["/big"] = ("huge", 50 * 1024 * 1024, False)
        with pytest.raises(OutboundRefused, match="over 100000 bytes"):
            self.policy(endpoint, max_bytes=100_000).get(f"{endpoint.base_url}/big")
        assert endpoint.sent < 10 * 1024 * 1024  # it hung up long before the end

    @pytest.mark.parametrize("route", [("trickle", 0.05), ("slow headers", 0.05)])
    def test_a_slow_server_is_cut_at_the_deadline(self, endpoint, route):
        # Each byte comes well within the read timeout: only the deadline stops it.
        endpoint.routes["/slow"] = route
        started = time.monotonic()
        with pytest.raises(OutboundUnavailable, match="longer than 1s"):
            self.policy(endpoint, read_timeout=5, deadline=1).get(f"{endpoint.base_url}/slow")
        assert time.monotonic() - started < 2.5
        assert endpoint.sent < 100

    def test_a_silent_server_is_cut_at_the_read_timeout(self, endpoint):
        endpoint.routes["/silent"] = ("trickle", 3)  # headers, then nothing for 3 s
        started = time.monotonic()
        with pytest.raises(OutboundUnavailable):
            self.policy(endpoint, read_timeout=0.3, deadline=10).get(
                f"{endpoint.base_url}/silent")
        assert time.monotonic() - started < 2


class TestRequestLine:
    def test_spaces_and_other_characters_are_encoded_and_encoded_ones_kept(self, endpoint):
        endpoint.routes["/caf%C3%A9%20bar/a%2Fb"] = ["ok"]
        policy = OutboundPolicy.from_entries([f"http://{endpoint.netloc}"])
        assert policy.get(f"{endpoint.base_url}/café bar/a%2Fb").body == b'["ok"]'
        assert endpoint.paths == ["/caf%C3%A9%20bar/a%2Fb"]


class TestEnvironment:
    def test_proxies_and_netrc_from_the_environment_are_ignored(
            self, endpoint, other, tmp_path, monkeypatch):
        endpoint.routes["/x"] = {"direct": True}
        netrc = tmp_path / "netrc"
        netrc.write_text("machine 127.0.0.1 login stolen password secret\n")
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, other.base_url)
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.setenv("NETRC", str(netrc))
        fetched = OutboundPolicy.from_entries([f"http://{endpoint.netloc}"]).get(
            f"{endpoint.base_url}/x")
        assert fetched.body == b'{"direct": true}'
        assert other.requests == []  # the "proxy" saw nothing
        assert "Authorization" not in endpoint.requests[0].headers
