"""Inbound media is fetched only from Twilio's media hosts, only images, within limits."""

from __future__ import annotations

import pytest

from engine.sms import encoding
from engine.store import Store
from tests.webhook.conftest import ROOT, Twilio, bodies, load_examples, new_sid, runtime_config
from tests.webhook.servers import MediaServer
from webhook import create_app
from webhook.media import MediaPolicy, MediaRefused, MediaUnavailable, download
from webhook.worker import Worker

PNG = (ROOT / "topics/media/serial-number.png").read_bytes()
PHONE = "+15550100031"
TWILIO_HOSTS = ("api.twilio.com", "media.twiliocdn.com", "*.twiliocdn.com")


@pytest.fixture
def server():
    with MediaServer() as server:
        yield server


@pytest.fixture
def other():
    with MediaServer() as other:
        yield other


def policy(*test_hosts: str, max_bytes: int = 5 * 1024 * 1024) -> MediaPolicy:
    return MediaPolicy(TWILIO_HOSTS, tuple(test_hosts), max_bytes)


class TestWhichUrls:
    @pytest.mark.parametrize("url", [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "https://media.twiliocdn.com/AC1/abc",
        "https://mms.twiliocdn.com/AC1/abc",
    ])
    def test_twilios_media_hosts_are_allowed(self, url):
        policy().check_url(url)

    @pytest.mark.parametrize("url, why", [
        ("http://api.twilio.com/2010-04-01/x", "https"),
        ("https://evil.example.com/cat.jpg", "not an allowed media host"),
        ("https://api.twilio.com.evil.example/x", "not an allowed media host"),
        ("https://twiliocdn.com/x", "not an allowed media host"),
        ("https://user:pw@api.twilio.com/x", "plain URL"),
        ("file:///etc/passwd", "plain URL"),
        ("http://127.0.0.1:8080/x", "https"),
        ("https://169.254.169.254/latest/meta-data/", "not an allowed media host"),
    ])
    def test_anything_else_is_refused(self, url, why):
        with pytest.raises(MediaRefused, match=why):
            policy().check_url(url)

    def test_an_allowed_name_that_resolves_to_a_private_address_is_refused(self):
        with pytest.raises(MediaRefused, match="non-public address"):
            MediaPolicy(("localhost",), (), 1000).check_url("https://localhost/x",
                                                            resolve=True)

    def test_loopback_only_for_the_configured_test_host_and_port(self, server):
        policy(server.netloc).check_url(f"{server.base_url}/x")
        with pytest.raises(MediaRefused):
            policy(server.netloc).check_url(f"http://127.0.0.1:{server.port + 1}/x")


class TestDownload:
    def test_an_image_with_the_accounts_credentials(self, server):
        server.files["/ME1"] = ("image/png", PNG)
        data, kind = download(f"{server.base_url}/ME1", policy=policy(server.netloc),
                              auth=("AC1", "token"))
        assert (data, kind) == (PNG, "image/png")
        assert server.requests[0].headers["Authorization"] == "Basic QUMxOnRva2Vu"

    def test_a_redirect_to_a_host_off_the_list_is_not_followed(self, server, other):
        other.files["/secret"] = ("image/png", PNG)
        server.redirects["/ME1"] = f"{other.base_url}/secret"
        with pytest.raises(MediaRefused, match="https"):
            download(f"{server.base_url}/ME1", policy=policy(server.netloc), auth=None)
        assert other.requests == []

    def test_a_redirect_on_the_list_is_followed_without_the_credentials(self, server, other):
        other.files["/cdn/ME1"] = ("image/png", PNG)
        server.redirects["/ME1"] = f"{other.base_url}/cdn/ME1"
        data, _kind = download(f"{server.base_url}/ME1",
                               policy=policy(server.netloc, other.netloc), auth=("AC1", "t"))
        assert data == PNG
        assert "Authorization" in server.requests[0].headers
        assert "Authorization" not in other.requests[0].headers

    def test_more_than_the_limit_is_refused(self, server):
        server.files["/big"] = ("image/png", PNG)
        with pytest.raises(MediaRefused, match="over 1000"):
            download(f"{server.base_url}/big", policy=policy(server.netloc, max_bytes=1000),
                     auth=None)

    def test_only_images(self, server):
        server.files["/page"] = ("text/html", b"<script>alert(1)</script>")
        server.files["/svg"] = ("image/svg+xml", b"<svg onload='alert(1)'/>")
        server.files["/liar"] = ("image/jpeg", b"<html>not a jpeg</html>")
        for path, why in (("/page", "not an image"), ("/svg", "not an image"),
                          ("/liar", "content says otherwise")):
            with pytest.raises(MediaRefused, match=why):
                download(f"{server.base_url}{path}", policy=policy(server.netloc), auth=None)

    def test_a_missing_file_is_refused_and_a_dead_host_may_come_back(self, server):
        with pytest.raises(MediaRefused, match="404"):
            download(f"{server.base_url}/gone", policy=policy(server.netloc), auth=None)
        with pytest.raises(MediaUnavailable):
            download("http://127.0.0.1:9/x", policy=policy("127.0.0.1:9"), auth=None)


class TestFetchJob:
    def test_a_photo_is_stored_in_the_database_and_recorded(self, tmp_path, database_url,
                                                            server):
        server.files["/ME1"] = ("image/png", PNG)
        app = create_app(runtime_config(tmp_path, DATABASE=database_url,
                                        MEDIA_TEST_HOSTS=[server.netloc]))
        sid = new_sid("MM")
        Twilio(app.test_client()).text(PHONE, "", sid=sid,
                                       media=((f"{server.base_url}/ME1", "image/png"),))
        store = Store(app.config["DATABASE"])
        assert store.media_fetches(store.message_by_sid(sid)["id"])[0]["status"] == "pending"
        Worker(app).drain()
        [item] = store.message_by_sid(sid)["media"]
        assert item["url"] == f"{server.base_url}/ME1"
        assert store.media_file(item["file"])["data"] == PNG
        assert item["file"].startswith("media/inbound/") and item["bytes"] == len(PNG)

    def test_a_url_off_the_list_is_never_requested(self, tmp_path, database_url, server):
        server.files["/ME1"] = ("image/png", PNG)
        # The test server is not allowed here.
        app = create_app(runtime_config(tmp_path, DATABASE=database_url))
        sid = new_sid("MM")
        response = Twilio(app.test_client()).text(
            PHONE, "", sid=sid, media=((f"{server.base_url}/ME1", "image/png"),
                                       ("https://evil.example.com/a.jpg", "image/jpeg")))
        assert response.status_code == 200
        Worker(app).drain()
        store = Store(app.config["DATABASE"])
        fetches = store.media_fetches(store.message_by_sid(sid)["id"])
        assert [f["status"] for f in fetches] == ["refused", "refused"]
        assert server.requests == []
        assert all("file" not in m and m["error"] for m in store.message_by_sid(sid)["media"])

    def test_a_failing_host_is_tried_again_later(self, tmp_path, database_url, server):
        app = create_app(runtime_config(tmp_path, DATABASE=database_url,
                                        MEDIA_TEST_HOSTS=[server.netloc]))
        sid = new_sid("MM")
        Twilio(app.test_client()).text(PHONE, "", sid=sid,
                                       media=((f"{server.base_url}/ME1", "image/png"),))
        server.files["/ME1"] = ("image/png", PNG)
        store = Store(app.config["DATABASE"])
        with store.write():  # what a 5xx leaves behind: pending again, with its error
            [job] = store.claim_media_fetches("w", lease_seconds=60)
            store.media_fetch_failed(job["id"], owner="w", error="503", retry_in=0)
        Worker(app).drain()
        [fetch] = store.media_fetches(store.message_by_sid(sid)["id"])
        assert (fetch["status"], fetch["attempts"]) == ("done", 2)


PHOTOS_ONLY = "I can only keep photos (JPEG, PNG, GIF, WebP or HEIC)."


class TestMixedFiles:
    """A photo sent with other files: the user is told which were kept and which were not."""

    @pytest.fixture
    def phone(self, tmp_path, database_url, server):
        server.files["/photo"] = ("image/png", PNG)
        server.files["/doc"] = ("application/pdf", b"%PDF-1.7")
        server.files["/clip"] = ("video/mp4", b"\x00\x00\x00\x18ftypmp42")
        app = create_app(runtime_config(tmp_path, DATABASE=database_url,
                                        MEDIA_TEST_HOSTS=[server.netloc]))
        store = Store(app.config["DATABASE"])
        load_examples(store)
        yield app, Twilio(app.test_client()), store, server.base_url
        store.close()

    def test_a_photo_with_a_pdf_and_a_video(self, phone):
        app, twilio, store, base = phone
        twilio.text(PHONE, "serial number")
        sid = new_sid("MM")
        answer = bodies(twilio.text(PHONE, "", sid=sid, media=(
            (f"{base}/photo", "image/png"), (f"{base}/doc", "application/pdf"),
            (f"{base}/clip", "video/mp4"))))
        assert answer[:2] == [
            f"I kept the photo but not the PDF or the video: {PHOTOS_ONLY}",
            "Got it, thanks! We'll register your device and text you when it's done."]
        Worker(app).drain()
        kept = ["file" in item for item in store.message_by_sid(sid)["media"]]
        assert kept == [True, False, False]
        # The reply is stored like every reply: a retry from Twilio gets the same answer.
        again = bodies(twilio.text(PHONE, "", sid=sid, media=(
            (f"{base}/photo", "image/png"), (f"{base}/doc", "application/pdf"),
            (f"{base}/clip", "video/mp4"))))
        assert again == answer

    def test_only_files_that_are_not_photos(self, phone):
        _app, twilio, _store, base = phone
        twilio.text(PHONE, "serial number")
        answer = bodies(twilio.text(PHONE, "", media=(
            (f"{base}/doc", "application/pdf"), (f"{base}/doc", "application/pdf"))))
        assert answer == [f"I couldn't keep the 2 PDFs: {PHOTOS_ONLY}",
                          "I need a photo of the label (an image). Please try again."]

    def test_several_photos_and_a_contact_card(self, phone):
        _app, twilio, _store, base = phone
        answer = bodies(twilio.text(PHONE, "hello", media=(
            (f"{base}/photo", "image/png"), (f"{base}/photo", "image/png"),
            (f"{base}/card", "text/vcard"))))
        assert answer[0] == f"I kept the 2 photos but not the contact card: {PHOTOS_ONLY}"

    def test_the_notice_is_in_the_conversations_language(self, phone):
        _app, twilio, _store, base = phone
        twilio.text(PHONE, "ESPAÑOL")
        answer = bodies(twilio.text(PHONE, "hola", media=(
            (f"{base}/photo", "image/png"), (f"{base}/doc", "application/pdf"),
            (f"{base}/card", "text/vcard"), (f"{base}/card", "text/vcard"))))
        assert answer[0] == ("Guardé la foto pero no el PDF o las 2 tarjetas de contacto: "
                             "Solo puedo guardar fotos (JPEG, PNG, GIF, WebP o HEIC).")
        assert encoding(answer[0]) == "GSM-7"  # é is in GSM-7's alphabet

    def test_all_photos_kept_means_nothing_more_is_said(self, phone):
        _app, twilio, _store, base = phone
        twilio.text(PHONE, "serial number")
        answer = bodies(twilio.text(PHONE, "", media=((f"{base}/photo", "image/png"),)))
        assert answer[0].startswith("Got it, thanks!")
        assert not any(body.startswith(("I kept", "I couldn't keep")) for body in answer)
