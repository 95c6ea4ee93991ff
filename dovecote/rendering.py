"""Render a notification's templates for one recipient and channel.

Templates live at ``dovecote/<notification name>/<template name>``. Text
(``.txt``) and JSON (``.json``) templates render with autoescaping off; HTML
ones with it on. django-notifier's names are found as a fallback:
``notifier/<name>_email_subject.txt``, ``notifier/<name>_email_message.txt``
(for ``email_body.txt``) and ``notifier/<name>_<channel>.txt``.

``DOVECOTE_CONTEXT_PROCESSORS`` lists dotted paths of callables
``(notification, recipient, channel) -> dict`` whose values every
notification's context gets (below the caller's own context, as Django's
template context processors sit below a view's context).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, TemplateDoesNotExist, TemplateSyntaxError
from django.template.base import FilterExpression, Variable, VariableNode
from django.template.defaulttags import FirstOfNode, ForNode, IfNode
from django.template.loader import get_template
from django.utils.module_loading import import_string

from dovecote.conf import setting
from dovecote.exceptions import RenderError

__all__ = [
    "SimpleSite",
    "TemplateCache",
    "collapse_line",
    "context_processors",
    "current_site",
    "find_template",
    "notifier_template_path",
    "processed_context",
    "sample_placeholders",
    "template_path",
]


#: Template name endings rendered with autoescaping off.
UNESCAPED_SUFFIXES = (".txt", ".json")


@dataclass(frozen=True)
class SimpleSite:
    """The ``site`` context when ``django.contrib.sites`` is not installed."""

    name: str = ""
    domain: str = ""
    base_url: str = ""

    def __str__(self) -> str:
        return self.name or self.domain


def current_site() -> Any:
    """Return the current ``Site``, or a ``SimpleSite`` from settings.

    ``DOVECOTE_SITE_NAME`` and ``DOVECOTE_BASE_URL`` fill the simple one.
    """
    if apps.is_installed("django.contrib.sites"):
        # django.contrib.sites is optional: its models import only when installed.
        from django.contrib.sites.models import Site

        return Site.objects.get_current()
    base_url = str(setting("DOVECOTE_BASE_URL") or "").rstrip("/")
    domain = base_url.split("://", 1)[-1].split("/", 1)[0]
    return SimpleSite(
        name=str(setting("DOVECOTE_SITE_NAME") or domain),
        domain=domain,
        base_url=base_url,
    )


def template_path(notification_name: str, template_name: str) -> str:
    """Return the template path of one of a notification's templates."""
    return f"dovecote/{notification_name}/{template_name}"


def plain_text(text: Any) -> str:
    """Return ``text`` as a plain ``str``, never a ``SafeString``.

    Rendered content is data: a page that shows it must escape it, so it
    must not carry Django's "already safe" mark out of the renderer.
    """
    return str.__str__(str(text))


def notifier_template_path(notification_name: str, template_name: str) -> str | None:
    """Return django-notifier's name for a text template, or None.

    ``email_body.txt`` was ``<name>_email_message.txt``; every other
    ``<template>.txt`` was ``<name>_<template>.txt`` under ``notifier/``.
    """
    if not template_name.endswith(".txt"):
        return None
    stem = template_name.removesuffix(".txt")
    if stem == "email_body":
        stem = "email_message"
    return f"notifier/{notification_name}_{stem}.txt"


def template_candidates(notification_name: str, template_name: str) -> list[str]:
    """Return the paths tried for a template, in order: dovecote's, notifier's."""
    paths = [template_path(notification_name, template_name)]
    legacy = notifier_template_path(notification_name, template_name)
    if legacy:
        paths.append(legacy)
    return paths


def find_template(notification_name: str, template_name: str) -> tuple[str, Any]:
    """Return ``(path, template)`` of the first candidate that exists.

    Raise ``TemplateDoesNotExist`` if none does, ``TemplateSyntaxError`` if
    the one found is broken.
    """
    candidates = template_candidates(notification_name, template_name)
    for path in candidates:
        try:
            return path, get_template(path)
        except TemplateDoesNotExist:
            continue
    raise TemplateDoesNotExist(", ".join(candidates))


_processors: tuple[Any, list[Any]] | None = None


def context_processors() -> list[Any]:
    """Return the callables of ``DOVECOTE_CONTEXT_PROCESSORS``, imported once."""
    global _processors
    paths = setting("DOVECOTE_CONTEXT_PROCESSORS") or []
    key = tuple(paths) if isinstance(paths, list | tuple) else paths
    if _processors is None or _processors[0] != key:
        if isinstance(paths, str) or not isinstance(paths, list | tuple):
            raise ImproperlyConfigured(
                "DOVECOTE_CONTEXT_PROCESSORS must be a list of dotted paths."
            )
        found = []
        for path in paths:
            try:
                found.append(import_string(path) if isinstance(path, str) else path)
            except ImportError as exc:
                raise ImproperlyConfigured(
                    f"DOVECOTE_CONTEXT_PROCESSORS: cannot import {path!r}: {exc}"
                ) from exc
        _processors = (key, found)
    return _processors[1]


def processed_context(
    notification: Any, recipient: Any, channel: Any
) -> dict[str, Any]:
    """Return the merged output of every context processor, in order.

    Each is called as ``processor(notification, recipient, channel)`` (the
    notification instance, the user or ``Recipient``, the ``Channel``) and
    must return a dict.
    """
    merged: dict[str, Any] = {}
    for processor in context_processors():
        extra = processor(notification, recipient, channel)
        if not isinstance(extra, dict):
            name = getattr(processor, "__qualname__", repr(processor))
            raise RenderError(
                f"The context processor {name} returned {type(extra).__name__}, "
                "not a dict."
            )
        merged.update(extra)
    return merged


class SampleValue:
    """A stand-in for a context value a preview was not given.

    It renders as ``[name]`` and so does anything reached from it:
    ``{{ new_user.name }}`` shows ``[new_user.name]``, a ``{% for %}`` over it
    loops once.
    """

    def __init__(self, path: str) -> None:
        self._path = path

    def __str__(self) -> str:
        return f"[{self._path}]"

    def __repr__(self) -> str:
        return str(self)

    def __getitem__(self, key: object) -> SampleValue:
        return SampleValue(f"{self._path}.{key}")

    def __getattr__(self, name: str) -> SampleValue:
        if name.startswith("_"):
            raise AttributeError(name)
        return SampleValue(f"{self._path}.{name}")

    def __iter__(self) -> Any:
        yield SampleValue(f"{self._path}.0")

    def __len__(self) -> int:
        return 1


def template_variables(template: Any) -> list[str]:
    """Return the root names of the variables a Django template reads, in order."""
    nodelist = getattr(getattr(template, "template", template), "nodelist", None)
    if nodelist is None:
        return []
    expressions: list[Any] = []
    for node in nodelist.get_nodes_by_type(VariableNode):
        expressions.append(node.filter_expression)
    for node in nodelist.get_nodes_by_type(FirstOfNode):
        expressions.extend(node.vars)
    for node in nodelist.get_nodes_by_type(ForNode):
        expressions.append(node.sequence)
    for node in nodelist.get_nodes_by_type(IfNode):
        for condition, _nodes in node.conditions_nodelists:
            for attribute in ("value", "first", "second"):
                part = getattr(condition, attribute, None)
                value = getattr(part, "value", None)
                if isinstance(value, FilterExpression):
                    expressions.append(value)
    loop_names = {
        name for node in nodelist.get_nodes_by_type(ForNode) for name in node.loopvars
    }
    names: list[str] = []
    for expression in expressions:
        var = getattr(expression, "var", None)
        if isinstance(var, Variable) and var.lookups:
            root = var.lookups[0]
            if root not in names and root not in loop_names and root != "forloop":
                names.append(root)
    return names


def sample_placeholders(
    notification_name: str, template_names: Any
) -> dict[str, SampleValue]:
    """Return ``{name: SampleValue(name)}`` for the variables the templates read.

    A preview without ``preview_context()`` renders with these, so it shows
    ``[new_user.name]`` where the real value would go, instead of a blank.
    """
    found: dict[str, SampleValue] = {}
    for template_name in template_names:
        try:
            _path, template = find_template(notification_name, template_name)
        except (TemplateDoesNotExist, TemplateSyntaxError):
            continue
        for name in template_variables(template):
            found.setdefault(name, SampleValue(name))
    return found


def collapse_line(text: str) -> str:
    """Return ``text`` on one line, runs of whitespace made one space."""
    return " ".join(text.split())


class TemplateCache:
    """Load each template once per send and render it with the right escaping."""

    def __init__(self, notification_name: str) -> None:
        self.notification_name = notification_name
        self._loaded: dict[str, Any] = {}

    def exists(self, template_name: str) -> bool:
        """Return True if the template can be loaded."""
        try:
            self._load(template_name)
        except RenderError:
            return False
        return True

    def render(
        self, template_name: str, context: dict[str, Any], *, optional: bool = False
    ) -> str:
        """Render one template; return "" for a missing optional one.

        Raise ``RenderError`` naming the template and notification if it is
        missing (and required) or fails to render.
        """
        try:
            template = self._load(template_name)
        except RenderError:
            if optional:
                return ""
            raise
        path = template_path(self.notification_name, template_name)
        autoescape = not template_name.endswith(UNESCAPED_SUFFIXES)
        try:
            inner = getattr(template, "template", None)
            if inner is not None and hasattr(inner, "engine"):
                # Django templates: the backend wrapper cannot switch
                # autoescaping off per render, the Context can.
                return plain_text(inner.render(Context(context, autoescape=autoescape)))
            return plain_text(template.render(context))
        except Exception as exc:
            raise RenderError(
                f"Rendering {path} for the notification "
                f"{self.notification_name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def render_json(
        self, template_name: str, context: dict[str, Any], *, optional: bool = False
    ) -> Any:
        """Render a JSON template and return the decoded value.

        Return None for a missing optional template, or one that renders to
        nothing but whitespace. Raise ``RenderError`` naming the template if
        the output is not valid JSON.
        """
        text = self.render(template_name, context, optional=optional)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            path = template_path(self.notification_name, template_name)
            lines = exc.doc.splitlines()
            line = lines[exc.lineno - 1] if exc.lineno <= len(lines) else ""
            raise RenderError(
                f"The template {path} of the notification "
                f"{self.notification_name!r} did not render valid JSON: {exc.msg} "
                f"at line {exc.lineno} column {exc.colno}: {line.strip()[:120]!r}. "
                'Insert values inside strings as "{{ value|escapejs }}".'
            ) from exc

    def _load(self, template_name: str) -> Any:
        if template_name in self._loaded:
            template = self._loaded[template_name]
        else:
            path = template_path(self.notification_name, template_name)
            try:
                path, template = find_template(self.notification_name, template_name)
            except TemplateDoesNotExist:
                template = None
            except TemplateSyntaxError as exc:
                template = RenderError(
                    f"The template {path} of the notification "
                    f"{self.notification_name!r} has a syntax error: {exc}"
                )
                # Raised later, maybe more than once: keep the cause.
                template.__cause__ = exc
            self._loaded[template_name] = template
        if template is None:
            raise RenderError(
                f"The notification {self.notification_name!r} needs the template "
                f"{template_path(self.notification_name, template_name)}, which "
                "does not exist."
            )
        if isinstance(template, RenderError):
            raise template
        return template
