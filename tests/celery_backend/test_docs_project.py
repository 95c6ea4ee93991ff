"""docs/delivery.md's Celery set-up, followed literally, delivers.

The test builds a project from the section's own code blocks (``proj/celery.py``,
``proj/__init__.py``, the settings), starts a real prefork worker with the
section's command on the machine's RabbitMQ, and sends through it. Then
``manage.py check`` flags each setting left at a value that loses or
repeats work. The only changes to the documented files: the project's own
base settings (database, a notification type), a queue name of its own
(other test runs share the broker) and SMS written to files.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.delivery.brokers import Broker, stop, wait_until
from tests.subproc import ROOT, environ_without

pytestmark = [pytest.mark.slow]

DOCS = ROOT / "docs" / "delivery.md"

BASE_SETTINGS = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "docs-project"
DEBUG = True
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    {tasks_app}
    "dovecote",
    "tests.delivery",  # registers the "delivery-fault" notification type
]
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "OPTIONS": {{"timeout": 30}},
    }}
}}
TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [{templates!r}],
    }}
]
DOVECOTE_CHANNELS = ["dovecote.channels.sms.SmsChannel"]
ROOT_URLCONF = "proj.urls"
"""

URLS = """\
from django.urls import include, path

urlpatterns = [path("notifications/", include("dovecote.urls"))]
"""

MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

SEND = (
    "from dovecote import Recipient, send_notification; "
    "send_notification('delivery-fault', "
    "[Recipient(phone=f'+1202555{i:04d}') for i in range(5)], {'n': 5}, "
    "channels=['sms'])"
)


def celery_blocks() -> dict[str, str]:
    """Return the Celery section's files: ``{"celery.py": source, ...}``."""
    text = DOCS.read_text()
    start = text.index("### 4. Celery on RabbitMQ or Redis")
    end = text.index("\n### ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start:end], re.S)
    files = {}
    for block in blocks:
        first = block.splitlines()[0]
        if first.startswith("# proj/"):
            files[first.removeprefix("# proj/")] = block
    assert set(files) == {"celery.py", "__init__.py", "settings.py"}, files.keys()
    return files


def commands() -> list[str]:
    text = DOCS.read_text()
    start = text.index("### 4. Celery on RabbitMQ or Redis")
    return re.findall(r"^(celery -A proj \w+ -l INFO)", text[start:], re.M)


class Project:
    def __init__(self, root: Path, queue: str) -> None:
        self.root = root
        self.queue = queue
        self.files = celery_blocks()
        self.env = {
            **environ_without("DJANGO_SETTINGS_MODULE", "DOVECOTE_"),
            "PYTHONPATH": f"{root}:{ROOT}",
        }
        (root / "proj").mkdir()
        (root / "manage.py").write_text(MANAGE)
        (root / "proj" / "__init__.py").write_text(self.files["__init__.py"])
        (root / "proj" / "urls.py").write_text(URLS)
        self.write(celery=self.files["celery.py"], settings="")

    def write(self, *, celery: str, settings: str) -> None:
        import django

        tasks_app = '"django_tasks",' if django.VERSION < (6, 0) else ""
        base = BASE_SETTINGS.format(
            tasks_app=tasks_app, templates=str(ROOT / "tests" / "templates")
        )
        own = (
            f"\nCELERY_TASK_DEFAULT_QUEUE = {self.queue!r}\n"
            'SMS_BACKEND = "dovecote.sms.backends.filebased.SmsBackend"\n'
            'SMS_FILE_PATH = BASE_DIR / "sms"\n'
        )
        (self.root / "proj" / "celery.py").write_text(celery)
        (self.root / "proj" / "settings.py").write_text(
            base + self.files["settings.py"] + own + settings
        )

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def check_ids(self) -> set[str]:
        done = self.manage("check")
        assert "Traceback" not in done.stderr, done.stderr
        return set(re.findall(r"dovecote\.[EW]07\d", done.stdout + done.stderr))


@pytest.fixture
def project(tmp_path):
    broker = Broker("rabbitmq", tmp_path)
    yield Project(tmp_path, broker.queue)
    broker.close()


def test_the_documented_project_delivers(project):
    assert commands() == [
        "celery -A proj worker -l INFO",
        "celery -A proj beat -l INFO",
    ]
    assert project.manage("migrate").returncode == 0
    assert project.check_ids() == set()
    log = open(project.root / "worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", *commands()[0].split()],
        cwd=project.root,
        env=project.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        sent = project.manage("shell", "-c", SEND)
        assert sent.returncode == 0, sent.stderr
        db = project.root / "db.sqlite3"

        def statuses() -> list[str]:
            with sqlite3.connect(db, timeout=30) as conn:
                rows = conn.execute("SELECT status FROM dovecote_delivery").fetchall()
            return [status for (status,) in rows]

        wait_until(lambda: statuses() == ["sent"] * 5, 120, "5 SMS sent by the worker")
        records = "".join(p.read_text() for p in (project.root / "sms").iterdir())
        assert records.count("to: +1202555") == 5
    finally:
        stop(worker)
        log.close()
    assert "dovecote.run_task" in (project.root / "worker.log").read_text()


def without(text: str, line_start: str) -> str:
    kept = [line for line in text.splitlines() if not line.startswith(line_start)]
    assert len(kept) < len(text.splitlines()), line_start
    return "\n".join(kept) + "\n"


def test_check_flags_each_losing_setting(project):
    celery_py = project.files["celery.py"]
    settings_py = project.files["settings.py"]
    # The prefetch line left out: Celery's default is 4.
    project.files["settings.py"] = without(settings_py, "CELERY_WORKER_PREFETCH")
    project.write(celery=celery_py, settings="")
    assert project.check_ids() == {"dovecote.E074"}
    project.files["settings.py"] = settings_py
    # No autodiscover: a worker would not know dovecote.run_task.
    project.write(celery=without(celery_py, "app.autodiscover_tasks()"), settings="")
    assert project.check_ids() == {"dovecote.E072"}
    # Annotations that turn late acknowledgement off for dovecote's task.
    annotations = (
        'CELERY_TASK_ANNOTATIONS = {"dovecote.run_task": '
        '{"reject_on_worker_lost": False}}\n'
    )
    project.write(celery=celery_py, settings=annotations)
    assert project.check_ids() == {"dovecote.E073"}
    # An ETA cap that outlasts Redis's visibility timeout, RabbitMQ's
    # consumer timeout.
    longer = "DOVECOTE_CELERY_MAX_ETA = 3600\n"
    project.write(celery=celery_py, settings=longer)
    assert project.check_ids() == {"dovecote.E076"}
    redis = f'CELERY_BROKER_URL = "redis://127.0.0.1:6379/{uuid.uuid4().int % 16}"\n'
    project.write(celery=celery_py, settings=longer + redis)
    assert project.check_ids() == {"dovecote.E075"}
    # No Celery app: settings that name the backend, a project without celery.py.
    (project.root / "proj" / "__init__.py").write_text("")
    project.write(celery=celery_py, settings="")
    assert project.check_ids() == {"dovecote.E071"}
