"""Custom fields found by name and type, and the edit screens they must be on.

NOTE: field names are not unique in Jira (a text "CSAT" and a number "CSAT" can coexist),
so a field is the one *number* field of that name; and a PUT fails for a field missing from
the issue's edit screen, which editmeta shows per project and issue type.
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-editmeta-get
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

_CREATE = ("create it as a custom field of type Number (Cloud: Settings → Work items → Fields "
           "→ Create new field → Number; Data Center: Administration → Issues → Custom fields "
           "→ Add custom field → Number Field)")


def number_fields(catalog: Iterable[Mapping[str, Any]],
                  names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Return the id of the one number field of each name, and a problem per name without one."""
    ids: dict[str, str] = {}
    problems: list[str] = []
    fields = [f for f in catalog if isinstance(f, Mapping)]
    for name in names:
        same = [f for f in fields if f.get("name") == name]
        numbers = [f for f in same if _type(f) == "number"]
        if len(numbers) == 1:
            ids[name] = str(numbers[0]["id"])
        elif numbers:
            listed = ", ".join(sorted(str(f["id"]) for f in numbers))
            problems.append(f"several number fields are named {name!r} ({listed}): rename or "
                            f"trash all but one, or name another one in tracker.fields")
        elif same:
            kinds = ", ".join(sorted(f"{f['id']} is {_type(f) or 'untyped'}" for f in same))
            problems.append(f"field {name!r} is not a number field ({kinds}): {_CREATE}, "
                            f"or name another one in tracker.fields")
        else:
            problems.append(f"no field is named {name!r}: {_CREATE}")
    return ids, problems


def _type(field: Mapping[str, Any]) -> str:
    schema = field.get("schema")
    return str(schema.get("type") or "") if isinstance(schema, Mapping) else ""


def screen_fields(editmeta: Any) -> frozenset[str]:
    """Return the ids of the fields an editmeta answer says can be edited."""
    fields = editmeta.get("fields") if isinstance(editmeta, Mapping) else None
    return frozenset(fields) if isinstance(fields, Mapping) else frozenset()


def screen_problems(on_screen: Collection[str], wanted: Mapping[str, str], project: str,
                    issue_type: str) -> list[str]:
    """Return a problem per wanted field (name → id) that the edit screen lacks."""
    return [f"field {name!r} ({fid}) is not on the edit screen of project {project}, issue type "
            f"{issue_type!r}: add it to that screen (Project settings → Issue types → "
            f"{issue_type} → Fields on Cloud team-managed projects; otherwise Jira "
            f"administration → Issues → Screens → the edit screen used by {project} for "
            f"{issue_type} → Add field), and check the field's context covers {project}"
            for name, fid in wanted.items() if fid not in on_screen]
