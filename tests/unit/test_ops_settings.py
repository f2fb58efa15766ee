"""Operations settings (RB_RECORDER_QUEUE_MB, RB_WEBHOOK_*), the queue bound they give,
and the webhook signature a receiver checks."""

from __future__ import annotations

import time

import pytest

from config.settings import SettingsError, load_settings
from ops.webhooks import Event, signature, verify
from recorder.framequeue import MiB
from web.archive.setup import queue_limits

HOOK_SECRET = "hook-secret-0123456789"


def test_recorder_queue_mb_sets_each_recordings_bound() -> None:
    assert load_settings({}).recorder_queue_mb == 4
    settings = load_settings({"RB_RECORDER_QUEUE_MB": "16"})
    limits = queue_limits(settings.recorder_queue_mb)
    assert limits.max_bytes == 16 * MiB and limits.audio_bytes == 512 * 1024
    small = queue_limits(1)
    assert small.max_bytes == MiB and 0 < small.audio_bytes < small.video_bytes


def test_webhook_urls_as_json_or_a_list() -> None:
    env = {"RB_WEBHOOK_SECRET": HOOK_SECRET}
    one = load_settings({**env, "RB_WEBHOOK_URLS": "http://a.example/h, https://b.example/h"})
    assert one.webhook_urls == ("http://a.example/h", "https://b.example/h")
    two = load_settings({**env, "RB_WEBHOOK_URLS": '["https://c.example/h"]'})
    assert two.webhook_urls == ("https://c.example/h",)
    assert load_settings({}).webhook_urls == ()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RB_RECORDER_QUEUE_MB": "0"}, "recorder_queue_mb"),
        ({"RB_RECORDER_QUEUE_MB": "lots"}, "recorder_queue_mb"),
        ({"RB_WEBHOOK_URLS": "http://a.example/h"}, "webhook_secret"),
        ({"RB_WEBHOOK_URLS": "ftp://a.example/h", "RB_WEBHOOK_SECRET": HOOK_SECRET}, "webhook"),
        ({"RB_WEBHOOK_URLS": "[1]", "RB_WEBHOOK_SECRET": HOOK_SECRET}, "webhook_urls"),
        ({"RB_WEBHOOK_URLS": "[", "RB_WEBHOOK_SECRET": HOOK_SECRET}, "RB_WEBHOOK_URLS"),
    ],
)
def test_bad_operations_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_a_signature_binds_secret_time_and_body() -> None:
    body = Event("session.opened", {"session_id": "s1"}).body()
    now = int(time.time())
    header = signature(HOOK_SECRET, now, body)
    assert verify(HOOK_SECRET, header, body)
    assert not verify(HOOK_SECRET + "x", header, body)
    assert not verify(HOOK_SECRET, header, body.replace(b"s1", b"s2"))
    assert not verify(HOOK_SECRET, header.replace(f"t={now}", f"t={now + 1}"), body)
    # An old signature (a replay) is refused past the tolerance.
    old = signature(HOOK_SECRET, now - 3600, body)
    assert not verify(HOOK_SECRET, old, body)
    assert not verify(HOOK_SECRET, "garbage", body)
    assert not verify(HOOK_SECRET, "t=x,v1=00", body)
