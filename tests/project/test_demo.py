"""The demo: ``example/manage.py demo`` sends on every channel and says why not."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from dovecote.sms.utils import messages_from_binary_file
from tests.subproc import ROOT, environ_without, run_python

pytestmark = pytest.mark.slow


def run_demo(var_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = environ_without("DJANGO_", "DOVECOTE_")
    env["DOVECOTE_DEMO_VAR"] = str(var_dir)
    env.update(extra)
    manage = str(ROOT / "example" / "manage.py")
    return run_python(manage, "demo", "--no-color", env=env, timeout=180)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("demo-var")
    completed = run_demo(var_dir)
    assert completed.returncode == 0, completed.stderr
    return var_dir, completed.stdout


def rows(stdout: str, notification: str) -> list[list[str]]:
    section = stdout.split(f"== Sent '{notification}'\n", 1)[1].split("\n\n", 1)[0]
    return [line.split() for line in section.splitlines()[1:]]


def test_demo_writes_email_sms_and_chat_files(demo):
    var_dir, _ = demo
    outbox = var_dir / "outbox"
    emails = "".join(p.read_text() for p in (outbox / "email").glob("*.log"))
    assert "Subject: New power user: Alice Example" in emails
    assert "Subject: Your password was changed" in emails or (
        "Subject: Your Dovecote Shop password was changed" in emails
    )
    assert "To: ivy@example.net" in emails

    texts = []
    for path in (outbox / "sms").glob("*.log"):
        with path.open("rb") as file:
            texts.extend(messages_from_binary_file(file))
    recipients = {number for message in texts for number in message.recipients}
    assert recipients == {"+31612345678", "+14155550123"}

    chat = "".join(p.read_text() for p in (outbox / "chat").glob("*.log"))
    # One post, to the webhook (its secret part redacted in the log).
    assert chat.count("to: https://hooks.slack.com/services/…\n") == 1
    assert "*Alice Example* (alice@example.com) just picked" in chat


def test_demo_fills_inboxes_in_its_own_database(demo):
    var_dir, _ = demo
    with sqlite3.connect(var_dir / "demo.sqlite3") as db:
        ((count,),) = db.execute("SELECT COUNT(*) FROM dovecote_inboxmessage")
    assert count == 9  # 7, and the chain's two inbox steps


def test_demo_reports_each_skip_with_its_reason(demo):
    _, stdout = demo
    power = rows(stdout, "power-user-signed-up")
    assert find_row(power, "olivia", "sms")[:6] == [
        "olivia",
        "sms",
        "-",
        "skipped",
        "opted",
        "out",
    ]
    assert " ".join(find_row(power, "sam", "sms")[3:]) == (
        "skipped no address for this channel"
    )
    assert find_row(power, "demo", "slack-webhook")[3] == "sent"
    weekly = rows(stdout, "weekly-summary")
    assert find_row(weekly, "alice", "email")[3:5] == ["skipped", "opted"]
    assert find_row(weekly, "demo", "email")[3] == "sent"
    assert "In all: 18 sent, 12 skipped." in stdout


def find_row(table, who, channel):
    for row in table:
        if row[0] == who and channel in row:
            return row
    raise AssertionError(f"no row for {who} on {channel}: {table}")


def test_demo_prints_where_outputs_are_and_how_to_run_the_site(demo):
    var_dir, stdout = demo
    for folder in ("email", "sms", "chat"):
        assert str(var_dir / "outbox" / folder) in stdout
    assert "python example/manage.py runserver" in stdout
    assert "demo / demo" in stdout


def test_demo_run_twice_starts_afresh(demo, tmp_path):
    var_dir, _ = demo
    again = run_demo(var_dir)
    assert again.returncode == 0, again.stderr
    assert "In all: 18 sent, 12 skipped." in again.stdout
    with sqlite3.connect(var_dir / "demo.sqlite3") as db:
        ((count,),) = db.execute("SELECT COUNT(*) FROM dovecote_inboxmessage")
    assert count == 9  # 7, and the chain's two inbox steps
    assert len(list((var_dir / "outbox" / "chat").glob("*.log"))) == 1


def test_demo_prints_a_daily_digest_of_three_comments(demo):
    var_dir, stdout = demo
    section = stdout.split("== Sent 'review-comment'", 1)[1]
    assert section.count("held for the user's digest until") == 3
    assert "Subject: 3 replies to your reviews" in section
    assert "Moka pot (2)" in section
    emails = "".join(
        p.read_text() for p in (var_dir / "outbox" / "email").glob("*.log")
    )
    assert emails.count("Subject: 3 replies to your reviews") == 1


def test_demo_shows_a_chain_stopped_by_a_read_inbox_message(demo):
    _, stdout = demo
    section = stdout.split("== Sent 'payment-failed'", 1)[1].split("\n\n", 1)[0]
    table = [line.split() for line in section.splitlines()[2:8]]
    assert table[:3] == [
        ["alice", "1", "inbox", "sent"],
        [
            "alice",
            "2",
            "email",
            "skipped",
            *["an", "earlier", "escalation", "step", "was", "seen"],
        ],
        [
            "alice",
            "3",
            "sms",
            "skipped",
            *["an", "earlier", "escalation", "step", "was", "seen"],
        ],
    ]
    assert table[3:5] == [["sam", "1", "inbox", "sent"], ["sam", "2", "email", "sent"]]


def test_demo_on_celery_sends_the_same_through_a_worker(demo, tmp_path):
    """DOVECOTE_DEMO_ENGINE=celery: a real worker on RabbitMQ sends it all."""
    _, stdout = demo
    done = run_demo(tmp_path, DOVECOTE_DEMO_ENGINE="celery")
    assert done.returncode == 0, done.stderr
    assert "In all: 18 sent, 12 skipped." in done.stdout
    assert "(sent, 3 items in one email)" in done.stdout  # the digest, too
    log = (tmp_path / "celery-worker.log").read_text()
    assert "dovecote-demo" in log and "Warm shutdown" in log
    # In process, the same rows ended the same way; the chain too.
    assert done.stdout.split("== Sent")[1] == stdout.split("== Sent")[1]
    chain = "== Sent 'payment-failed'"
    table = done.stdout.split(chain)[1].split("\n\n")[0]
    assert table == stdout.split(chain)[1].split("\n\n")[0]


def test_demo_on_celery_without_a_broker_says_what_to_do(tmp_path):
    done = run_demo(
        tmp_path,
        DOVECOTE_DEMO_ENGINE="celery",
        DOVECOTE_DEMO_BROKER="amqp://guest:guest@127.0.0.1:9//",
    )
    assert done.returncode != 0
    assert "no broker answers at amqp://guest:guest@127.0.0.1:9//" in done.stderr
