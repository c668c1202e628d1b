"""Editing sources and routes from Slack: who may, and turning form answers into a
checked change. Errors come back per form field, in the editor's language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bot.config import Route, Source
from bot.i18n import catalogue
from bot.listen.catalog import Catalog, CatalogError, split_list
from bot.people import Directory
from bot.platforms import PLATFORMS


class NotAnEditor(PermissionError):
    pass


class FormErrors(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"listen.ui.{key}", **params)


class ListenAdmin:
    def __init__(self, *, catalog: Catalog, people: Directory,
                 environ: Mapping[str, str]) -> None:
        self.catalog = catalog
        self._people = people
        self._environ = environ

    def require_editor(self, user_id: str) -> None:
        if not self._people.is_editor(user_id):
            raise NotAnEditor(user_id)

    # -- routes -------------------------------------------------------------------------------
    def save_route(self, user_id: str, values: Mapping[str, Any], route_id: int | None,
                   locale: str) -> int:
        self.require_editor(user_id)
        data = {
            "name": (values.get("name") or "").strip() or None,
            "channel": values.get("channel") or "",
            "accounts": values.get("accounts") or [],
            "sources": values.get("sources") or [],
            "keywords": split_list(values.get("keywords")),
            "languages": [w.lower() for w in split_list(values.get("languages"))],
            "authors": split_list(values.get("authors")),
        }
        if not data["channel"]:
            raise FormErrors({"channel": _t(locale, "error_channel")})
        try:
            route = Route.model_validate(data)
        except ValidationError as exc:
            raise FormErrors(_route_errors(exc, locale)) from None
        try:
            return self.catalog.save_route(user_id, route, route_id)
        except CatalogError as exc:
            raise FormErrors({_error_block(str(exc)): _t(locale, f"error_{exc}")}) from None

    def route_action(self, user_id: str, action: str, route_id: int) -> None:
        self.require_editor(user_id)
        if action == "delete":
            self.catalog.delete_route(user_id, route_id)
        elif action in ("up", "down"):
            self.catalog.move_route(user_id, route_id, -1 if action == "up" else 1)

    # -- sources ------------------------------------------------------------------------------
    def save_source(self, user_id: str, kind: str, values: Mapping[str, Any],
                    source_id: str | None, locale: str) -> Source:
        self.require_editor(user_id)
        previous = self.catalog.source(source_id) if source_id else None
        data: dict[str, Any] = {"id": source_id or (values.get("id") or "").strip(),
                                "type": kind}
        if previous is not None:
            data["enabled"] = previous.enabled
        for key, value in values.items():
            if key in ("id",) or value in (None, "", []):
                continue
            data[key] = value.strip() if isinstance(value, str) else value
        try:
            source = Source.model_validate(data)
        except ValidationError as exc:
            raise FormErrors(_source_errors(exc, locale)) from None
        try:
            self.catalog.save_source(user_id, source, new=source_id is None)
        except CatalogError as exc:
            raise FormErrors({_error_block(str(exc)): _t(locale, f"error_{exc}")}) from None
        return source

    def source_action(self, user_id: str, action: str, source_id: str) -> None:
        self.require_editor(user_id)
        if action == "delete":
            self.catalog.delete_source(user_id, source_id)
            return
        source = self.catalog.source(source_id)
        if source is None:
            raise CatalogError("source_gone")
        if action in ("enable", "disable"):
            self.catalog.save_source(
                user_id, source.model_copy(update={"enabled": action == "enable"}), new=False)

    def missing_secret(self, source: Source) -> str | None:
        """The variable a new source names but the server does not have, to warn about."""
        for field in source.platform.source_fields:
            name = source.setting(field.key) if field.key.endswith("_env") else None
            if name and not self._environ.get(name):
                return str(name)
        return None


# Keys a source may be refused for lacking, in the order the messages are searched.
_REQUIRED_KEYS = tuple(f.key for p in PLATFORMS for f in p.source_fields if f.required)


def _error_block(code: str) -> str:
    return {"source_exists": "id", "unknown_account": "accounts",
            "unknown_source": "sources"}.get(code, "name")


def _route_errors(exc: ValidationError, locale: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "keywords"
        if not error["loc"]:  # the "at least one condition" rule
            errors["keywords"] = _t(locale, "error_condition")
        else:
            errors[field] = _t(locale, "error_invalid", details=error["msg"])
    return errors


def _source_errors(exc: ValidationError, locale: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        field = str(error["loc"][0]) if error["loc"] else ""
        if not field:  # a rule about the whole source names its key first
            field = next((k for k in _REQUIRED_KEYS if k in message), "id")
        errors[field] = _t(locale, "error_invalid", details=message)
    return errors
