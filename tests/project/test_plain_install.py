"""A plain install works: ``pip install .`` with no extras, and this stack's Django.

In a fresh virtualenv (this interpreter, pip's cache, build isolation on, so
a missing dependency shows), a new project with the admin passes ``check``,
migrates, and sends one notification by email and by SMS, with every warning
an error. On Django 6.1 the email goes through ``MAILERS``, to the alias the
channel names. ``DOVECOTE_SMOKE_ALSO`` (``;``-separated requirements, e.g.
``Django>=5.2,<5.3`` on Python 3.12) tries more Django versions here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import django
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def this_django() -> str:
    major, minor = django.VERSION[:2]
    return f"Django>={major}.{minor},<{major}.{minor + 1}"


REQUIREMENTS = [
    this_django(),
    *(r for r in os.environ.get("DOVECOTE_SMOKE_ALSO", "").split(";") if r.strip()),
]

SETTINGS = """
import django
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "smoke-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *([] if django.VERSION >= (6, 0) else ["django_tasks"]),
    "dovecote",
    "smokeapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
_TASKS_API = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
TASKS = {"default": {"BACKEND": f"{_TASKS_API}.backends.immediate.ImmediateBackend"}}

FILEBASED = "django.core.mail.backends.filebased.EmailBackend"
if django.VERSION >= (6, 1):
    # The default mailer sends nothing: the email channel must use its own.
    MAILERS = {
        "default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"},
        "transactional": {
            "BACKEND": FILEBASED,
            "OPTIONS": {"file_path": BASE_DIR / "out" / "email"},
        },
    }
    DOVECOTE_CHANNELS = [
        {
            "BACKEND": "dovecote.channels.email.EmailChannel",
            "OPTIONS": {"mailer": "transactional"},
        },
        "dovecote.channels.sms.SmsChannel",
    ]
else:
    EMAIL_BACKEND = FILEBASED
    EMAIL_FILE_PATH = BASE_DIR / "out" / "email"
    DOVECOTE_CHANNELS = [
        "dovecote.channels.email.EmailChannel",
        "dovecote.channels.sms.SmsChannel",
    ]
DEFAULT_FROM_EMAIL = "smoke@example.com"
# Absolute https links (List-Unsubscribe needs them; else check W021 warns).
DOVECOTE_BASE_URL = "https://smoke.example.com"
SMS_BACKEND = "dovecote.sms.backends.filebased.SmsBackend"
SMS_FILE_PATH = BASE_DIR / "out" / "sms"
DEFAULT_FROM_SMS = "+15005550006"
"""

URLS = """
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("notifications/", include("dovecote.urls")),
]
"""

NOTIFICATIONS = """
from dovecote import Notification, register


@register
class Hello(Notification):
    name = "smoke-hello"
    display_name = "Hello"
    channels = ["email", "sms"]
"""

SEND = """
import django

django.setup()

from django.contrib.auth.models import User
from django.test import Client

from dovecote import send_notification
from dovecote.models import Address, Delivery

ada = User.objects.create_superuser("ada", "ada@example.com", "pw")
Address.objects.create(user=ada, protocol="sms", address="+14155550100")
send_notification("smoke-hello", [ada], context={"code": "4711"})
for d in Delivery.objects.order_by("channel"):
    print("delivery", d.channel, d.status, d.backend, sep="|")

client = Client()
client.force_login(ada)
for url in ("/admin/dovecote/delivery/", "/notifications/"):
    print("page", url, client.get(url).status_code, sep="|")
"""

TEMPLATES = {
    "email_subject.txt": "Hello {{ user.username }}\n",
    "email_body.txt": "Your code is {{ code }}.\n",
    "sms.txt": "Code {{ code }}\n",
}


def write_project(site: Path) -> None:
    app = site / "smokeapp"
    templates = app / "templates" / "dovecote" / "smoke-hello"
    templates.mkdir(parents=True)
    (site / "settings.py").write_text(SETTINGS)
    (site / "urls.py").write_text(URLS)
    (site / "send.py").write_text(SEND)
    (site / "manage.py").write_text(
        "import sys\nfrom django.core.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    (app / "__init__.py").write_text("")
    (app / "notifications.py").write_text(NOTIFICATIONS)
    for name, text in TEMPLATES.items():
        (templates / name).write_text(text)


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120):
    done = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build dovecote's wheel once, as ``pip install .`` would (isolated)."""
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src") / "dovecote"
    # Build from a clean copy of the tracked files, not the working folders.
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = src / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."],
        cwd=src,
        env=pip_env(),
        timeout=300,
    )
    (built,) = out.glob("django_dovecote-*.whl")
    return built


def pip_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.mark.parametrize("requirement", REQUIREMENTS)
def test_plain_install_checks_migrates_and_sends(requirement, wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    env = pip_env()
    run(
        [python, "-m", "pip", "install", "-q", str(wheel), requirement],
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    listed = run(
        [python, "-m", "pip", "list", "--format=freeze"], cwd=tmp_path, env=env
    )
    installed = {line.split("==")[0].lower() for line in listed.split()}
    # No extras: none of the dev or optional packages came along.
    assert not {"pytest", "django-stubs", "psycopg", "django-tasks-db"} & installed
    version = run(
        [python, "-c", "import django; print(*django.VERSION[:2], sep='.')"],
        cwd=tmp_path,
        env=env,
    ).strip()

    site = tmp_path / "site"
    write_project(site)
    env = {**env, "DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(site)}
    strict = [python, "-W", "error"]
    run([*strict, "manage.py", "check", "--fail-level", "WARNING"], cwd=site, env=env)
    run([*strict, "manage.py", "migrate", "-v", "0"], cwd=site, env=env)
    lines = run([*strict, "send.py"], cwd=site, env=env).splitlines()

    deliveries = [line.split("|")[1:] for line in lines if line.startswith("delivery|")]
    pages = [line.split("|")[1:] for line in lines if line.startswith("page|")]
    assert pages == [["/admin/dovecote/delivery/", "200"], ["/notifications/", "200"]]
    (email, sms) = deliveries
    assert email[:2] == ["email", "sent"] and sms[:2] == ["sms", "sent"]
    if tuple(map(int, version.split("."))) >= (6, 1):
        assert email[2] == (
            "mailer:transactional (django.core.mail.backends.filebased.EmailBackend)"
        )
    else:
        assert email[2] == "django.core.mail.backends.filebased.EmailBackend"
    assert sms[2] == "dovecote.sms.backends.filebased.SmsBackend"

    (email_file,) = (site / "out" / "email").iterdir()
    sent = email_file.read_text()
    assert "Subject: Hello ada" in sent and "Your code is 4711." in sent
    assert "To: ada@example.com" in sent
    (sms_file,) = (site / "out" / "sms").iterdir()
    assert "to: +14155550100\nCode 4711" in sms_file.read_text()
