"""One error vocabulary for refusals.

Every refused action (bad input, a rule that forbids it, a missing
permission) raises a subclass of ``Refused``; nothing else means "no" to a
user. The tree:

- ``Refused(key, **fields)``: ``key`` is an i18n catalog key, ``fields``
  fill its placeholders. ``text(lang)`` is the one translation path; pages,
  the REST API and recipient pages all show a refusal through it.
  - ``domain.csv_import.CsvError``: the file as a whole cannot be imported.
  - ``domain.sms_text.TemplateError``: a template problem (``field`` names
    the merge field concerned).
  - ``services.auth.NotAllowed``: signed out, or the role lacks a permission.
  - ``services.actions.ActionRefused``: a recipient or campaign action
    (reissue, cancel, send...) that the rules forbid.
  - ``Invalid(errors)``: a form with problems per field (campaign,
    settings, reminder rules): ``errors`` is a list of ``FieldError``.
  - the other services' refusals (users, TOTP, API keys, webhooks, exports,
    payments).

Subclasses that used to be ``ValueError`` keep it as a second base so
existing ``except ValueError`` handlers still catch them."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field


class Refused(Exception):
    """A refused action: ``key`` is an i18n key, ``fields`` its format fields."""

    def __init__(self, key: str, **fields: object) -> None:
        super().__init__(key)
        self.key = key
        self.fields: dict[str, object] = fields

    def text(self, lang: str | None = None) -> str:
        """The refusal in ``lang``; the key itself when the catalog lacks it."""
        from smspay_app.i18n import CATALOG, t

        if self.key not in CATALOG:
            return self.key
        return t(self.key, lang, **self.fields)


@dataclass(frozen=True)
class FieldError:
    """One problem with one form field: ``key`` is an i18n key."""

    field: str
    key: str
    fields: dict[str, object] = dc_field(default_factory=dict)


class Invalid(Refused, ValueError):
    """A form with one or more problems, each tied to its field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].key if errors else "invalid", **(errors[0].fields if errors else {}))
        self.errors = errors
        self.args = (", ".join(f"{e.field}: {e.key}" for e in errors),)
