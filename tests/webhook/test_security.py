"""Only Twilio gets in: signatures, the public URL behind proxies and ports, body limits."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from tests.webhook.conftest import (
    PUBLIC_URL,
    TOKEN,
    Twilio,
    bodies,
    count,
    load_examples,
    runtime_config,
)
from webhook import create_app

PHONE = "+15550100001"
MENU_START = "Hi, I'm Parley, the virtual agent."


def nothing_stored(store) -> bool:
    return all(count(store, table) == 0
               for table in ("inbound_claims", "messages", "conversations", "outbox"))


class TestSignature:
    def test_a_valid_signature_is_answered(self, twilio, store):
        load_examples(store)
        assert bodies(twilio.text(PHONE, "hello"))[0].startswith(MENU_START)

    def test_a_wrong_signature_is_refused_and_nothing_is_stored(self, twilio, store):
        load_examples(store)
        params = twilio.message_params(PHONE, "hello")
        wrong = RequestValidator("not-the-token").compute_signature(
            f"{PUBLIC_URL}/twilio/sms", params)
        response = twilio.post("/twilio/sms", params, signature=wrong)
        assert response.status_code == 403
        assert nothing_stored(store)

    def test_a_missing_signature_is_refused(self, twilio, store):
        response = twilio.client.post("/twilio/sms", data=twilio.message_params(PHONE, "hi"))
        assert response.status_code == 403
        assert nothing_stored(store)

    def test_a_tampered_body_is_refused(self, twilio, store):
        params = twilio.message_params(PHONE, "hello")
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC_URL}/twilio/sms",
                                                              params)
        params["Body"] = "AGENT"
        assert twilio.post("/twilio/sms", params, signature=signature).status_code == 403
        assert nothing_stored(store)

    def test_another_accounts_request_is_refused(self, twilio, store):
        other = Twilio(twilio.client, account_sid="AC" + "f" * 32)
        assert other.text(PHONE, "hello").status_code == 403
        assert nothing_stored(store)

    def test_messaging_service_sid_is_part_of_what_is_signed(self, twilio, store):
        load_examples(store)
        params = twilio.message_params(PHONE, "hello", MessagingServiceSid="MG" + "1" * 32)
        assert bodies(twilio.post("/twilio/sms", params))[0].startswith(MENU_START)
        # Signed without it, then sent with it: refused.
        unsigned = {k: v for k, v in params.items() if k != "MessagingServiceSid"}
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC_URL}/twilio/sms",
                                                              unsigned)
        params = twilio.message_params(PHONE, "again", MessagingServiceSid="MG" + "1" * 32)
        assert twilio.post("/twilio/sms", params, signature=signature).status_code == 403

    def test_fields_twilio_adds_without_notice_are_signed_and_accepted(self, twilio, store):
        load_examples(store)
        response = twilio.text(PHONE, "hello", SomeNewField="42", AddOns='{"status":"ok"}')
        assert bodies(response)[0].startswith(MENU_START)

    def test_hmac_sha256_signatures_are_checked_too(self, twilio, store):
        load_examples(store)
        params = twilio.message_params(PHONE, "hello")
        signature = RequestValidator(TOKEN).compute_signature(
            f"{PUBLIC_URL}/twilio/sms", params, algorithm="HMAC_SHA256")
        settings = {"X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_SHA256"}
        response = twilio.post("/twilio/sms", params, signature=signature, headers=settings)
        assert bodies(response)[0].startswith(MENU_START)
        # The same signature claimed as SHA-1 does not pass.
        params = twilio.message_params(PHONE, "hello")
        signature = RequestValidator(TOKEN).compute_signature(
            f"{PUBLIC_URL}/twilio/sms", params, algorithm="HMAC_SHA256")
        assert twilio.post("/twilio/sms", params, signature=signature).status_code == 403


class TestPublicUrl:
    def test_a_query_string_in_the_webhook_url_is_signed(self, twilio, store):
        load_examples(store)
        params = twilio.message_params(PHONE, "hello")
        response = twilio.post("/twilio/sms", params, query="tenant=acme&x=1")
        assert bodies(response)[0].startswith(MENU_START)
        # The URL without its query was not what Twilio signed.
        params = twilio.message_params(PHONE, "hello")
        response = twilio.post("/twilio/sms", params, query="tenant=acme",
                               signed_url=f"{PUBLIC_URL}/twilio/sms")
        assert response.status_code == 403

    def test_a_port_in_the_public_url(self, tmp_path):
        """SQLite only: what is checked is the signed URL, not the database."""
        url = "https://sms.example.com:8443"
        app = create_app(runtime_config(tmp_path, PUBLIC_URL=url))
        twilio = Twilio(app.test_client(), url=url)
        # The server itself listens elsewhere (a plain port behind TLS termination).
        params = twilio.message_params(PHONE, "hello")
        response = twilio.post("/twilio/sms", params, base_url="http://127.0.0.1:9000/")
        assert response.status_code == 200
        # Signed for another port: not ours. (Without any port passes: RequestValidator
        # checks the URL with and without its port, as Twilio has signed both ways.)
        params = twilio.message_params(PHONE, "hello")
        response = twilio.post("/twilio/sms", params,
                               signed_url="https://sms.example.com:9443/twilio/sms")
        assert response.status_code == 403

    def test_the_default_port_may_be_written_or_not(self, twilio, store):
        # Twilio has signed both ways over the years; RequestValidator accepts both.
        params = twilio.message_params(PHONE, "hello")
        response = twilio.post("/twilio/sms", params,
                               signed_url="https://sms.example.com:443/twilio/sms")
        assert response.status_code == 200

    def test_behind_a_proxy_the_public_url_is_what_counts(self, tmp_path):
        """SQLite only: what is checked is the signed URL, not the database."""
        app = create_app(runtime_config(tmp_path, TRUST_PROXY=1))
        twilio = Twilio(app.test_client())
        proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com",
                 "X-Forwarded-For": "54.172.60.1", "X-Forwarded-Port": "443"}
        params = twilio.message_params(PHONE, "hello")
        response = twilio.post("/twilio/sms", params, headers=proxy,
                               base_url="http://10.0.0.5:8000/")
        assert response.status_code == 200

    def test_forwarded_headers_cannot_move_the_signed_url(self, twilio, store):
        # A request signed for another host is refused whatever X-Forwarded-Host claims.
        params = twilio.message_params(PHONE, "hello")
        response = twilio.post(
            "/twilio/sms", params, signed_url="https://attacker.example/twilio/sms",
            headers={"X-Forwarded-Host": "attacker.example", "X-Forwarded-Proto": "https"})
        assert response.status_code == 403
        assert nothing_stored(store)

    def test_a_public_url_with_a_path_prefix(self, tmp_path):
        """SQLite only: what is checked is the signed URL, not the database."""
        url = "https://example.com/parley"
        app = create_app(runtime_config(tmp_path, PUBLIC_URL=url))
        twilio = Twilio(app.test_client(), url=url)
        assert twilio.text(PHONE, "hello").status_code == 200


class TestLimits:
    def test_an_oversized_body_is_refused_with_413_and_nothing_stored(self, twilio, store):
        params = twilio.message_params(PHONE, "x" * 100_000)
        response = twilio.post("/twilio/sms", params)
        assert response.status_code == 413
        assert nothing_stored(store)

    def test_a_signed_request_without_a_sender_is_a_bad_request(self, twilio, store):
        params = twilio.message_params(PHONE, "hello")
        del params["From"]
        assert twilio.post("/twilio/sms", params).status_code == 400
        assert nothing_stored(store)

    def test_status_callbacks_are_signed_too(self, twilio, store):
        params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered",
                  "AccountSid": twilio.account_sid}
        assert twilio.client.post("/twilio/status", data=params).status_code == 403
        assert count(store, "message_statuses") == 0
