"""Customer Impact as number fields of a GitHub Projects v2 board, through GraphQL.

NOTE: Projects v2 has no REST write for item field values on every GitHub version, and
PyGithub has no classes for it; GraphQL it is. An item is added with addProjectV2ItemById
(which returns the existing item when the issue is already on the board), then every field
is set or cleared in one mutation with aliases.
https://docs.github.com/en/issues/planning-and-tracking-with-projects/automating-your-project/using-the-api-to-manage-projects
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from impactlink.config import GithubTrackerConfig, ProjectTarget
from impactlink.errors import TrackerError
from impactlink.trackers.github_client import GithubClient, GithubHTTPError

FieldValues = Mapping[str, float | None]
"""Field name -> number to set, or None to clear."""

_FIELDS = """
query($login: String!, $number: Int!, $after: String) {
  owner: %s(login: $login) {
    projectV2(number: $number) {
      id
      title
      viewerCanUpdate
      fields(first: 100, after: $after) {
        nodes { ... on ProjectV2FieldCommon { id name dataType } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""
_CREATE_FIELD = """
mutation($project: ID!, $name: String!) {
  createProjectV2Field(input: {projectId: $project, dataType: NUMBER, name: $name}) {
    projectV2Field { ... on ProjectV2Field { id name dataType } }
  }
}
"""
_ADD_ITEM = """
mutation($project: ID!, $content: ID!) {
  addProjectV2ItemById(input: {projectId: $project, contentId: $content}) { item { id } }
}
"""
_ISSUE_ITEMS = """
query($issue: ID!) {
  node(id: $issue) {
    ... on Issue { projectItems(first: 100) { nodes { id project { id } } } }
  }
}
"""
_ISSUE_ID = """
query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) { issue(number: $number) { id } }
}
"""


@dataclass
class _Board:
    id: str
    title: str
    can_update: bool
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Field name -> (id, data type)."""


def describe(target: ProjectTarget) -> str:
    """Return how a user names the project: 'acme project 3'."""
    return f"{target.owner} project {target.number}"


class ProjectFields:
    """Finds the board and its fields once, then sets an issue's numbers per write."""

    def __init__(self, client: GithubClient, config: GithubTrackerConfig,
                 target: ProjectTarget) -> None:
        self._client = client
        self._target = target
        self._create = config.create_fields
        self._wanted = (config.fields.score, config.fields.csat, config.fields.affected)
        self._items: dict[str, str] = {}
        self._board: _Board | None = None

    def issue_id(self, repo: str, number: int) -> str:
        """Return an issue's node id (when the listing did not already give it)."""
        owner, name = repo.split("/")
        data = self._client.graphql(_ISSUE_ID, {"owner": owner, "name": name, "number": number})
        issue = (data.get("repository") or {}).get("issue") or {}
        if not issue.get("id"):
            raise TrackerError(f"{repo}#{number}: issue not found through GraphQL")
        return str(issue["id"])

    def write(self, issue_node: str, values: FieldValues) -> None:
        """Set (or clear) the issue's fields, adding it to the board unless only clearing."""
        board = self.board(create=True)
        ids = {name: board.fields[name][0] for name in values}
        clearing = all(v is None for v in values.values())
        item = self._items.get(issue_node) or (self._find_item(board, issue_node) if clearing
                                               else self._add_item(board, issue_node))
        if item is None:
            return
        try:
            self._set(board, item, ids, values)
        except GithubHTTPError as exc:
            if exc.status != 404 or issue_node not in self._items:
                raise
            # The item was removed from the board since we cached it.
            del self._items[issue_node]
            if not clearing:
                self._set(board, self._add_item(board, issue_node), ids, values)

    def board(self, *, create: bool) -> _Board:
        """Return the project and its fields, creating missing NUMBER fields when allowed."""
        if self._board is None:
            self._board = self._read_board()
        missing = [n for n in self._wanted if n not in self._board.fields]
        if missing and self._create and create:
            for name in missing:
                self._create_field(self._board, name)
        elif missing and not self._create:
            raise TrackerError(
                f"{describe(self._target)} has no field named {', '.join(map(repr, missing))}: "
                f"add them as Number fields, or set create_fields = true")
        wrong = [n for n in self._wanted
                 if n in self._board.fields and self._board.fields[n][1] != "NUMBER"]
        if wrong:
            raise TrackerError(f"{describe(self._target)}: field(s) {', '.join(map(repr, wrong))} "
                               f"must be of type Number; rename them or point fields at others")
        return self._board

    def problems(self) -> list[str]:
        """Return what stops writing to the board, with its fix."""
        try:
            board = self.board(create=False)
        except TrackerError as exc:
            return [str(exc)]
        if not board.can_update:
            return [f"{describe(self._target)}: these credentials cannot update the project: "
                    f"grant Projects read and write (classic token: project scope)"]
        return []

    def _read_board(self) -> _Board:
        kind = "organization" if self._target.owner_type == "org" else "user"
        board: _Board | None = None
        after: str | None = None
        while True:
            try:
                data = self._client.graphql(_FIELDS % kind, {
                    "login": self._target.owner, "number": self._target.number, "after": after})
            except GithubHTTPError as exc:
                if exc.status != 404:
                    raise
                data = {}
            project = (data.get("owner") or {}).get("projectV2")
            if not project:
                raise TrackerError(f"{describe(self._target)} not found: check project.owner, "
                                   f"owner_type and number, and the token's project access")
            if board is None:
                board = _Board(str(project["id"]), str(project.get("title", "")),
                               bool(project.get("viewerCanUpdate")))
            connection = project.get("fields") or {}
            for node in connection.get("nodes") or []:
                if node and node.get("name"):
                    board.fields.setdefault(str(node["name"]),
                                            (str(node["id"]), str(node.get("dataType"))))
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return board
            after = page.get("endCursor")

    def _create_field(self, board: _Board, name: str) -> None:
        data = self._client.graphql(_CREATE_FIELD, {"project": board.id, "name": name},
                                    mutation=True, idempotent=False)
        created = (data.get("createProjectV2Field") or {}).get("projectV2Field") or {}
        board.fields[name] = (str(created["id"]), "NUMBER")

    def _add_item(self, board: _Board, issue_node: str) -> str:
        data = self._client.graphql(_ADD_ITEM, {"project": board.id, "content": issue_node},
                                    mutation=True)
        item = str(((data.get("addProjectV2ItemById") or {}).get("item") or {})["id"])
        self._items[issue_node] = item
        return item

    def _find_item(self, board: _Board, issue_node: str) -> str | None:
        data = self._client.graphql(_ISSUE_ITEMS, {"issue": issue_node})
        items = ((data.get("node") or {}).get("projectItems") or {}).get("nodes") or []
        for item in items:
            if item and (item.get("project") or {}).get("id") == board.id:
                self._items[issue_node] = str(item["id"])
                return str(item["id"])
        return None

    def _set(self, board: _Board, item: str, ids: Mapping[str, str],
             values: FieldValues) -> None:
        params = ["$project: ID!", "$item: ID!"]
        parts: list[str] = []
        variables: dict[str, object] = {"project": board.id, "item": item}
        for i, (name, value) in enumerate(sorted(values.items())):
            variables[f"f{i}"] = ids[name]
            params.append(f"$f{i}: ID!")
            base = f"projectId: $project, itemId: $item, fieldId: $f{i}"
            if value is None:
                parts.append(f"f{i}: clearProjectV2ItemFieldValue(input: {{{base}}}) "
                             f"{{ projectV2Item {{ id }} }}")
            else:
                variables[f"v{i}"] = value
                params.append(f"$v{i}: Float!")
                parts.append(f"f{i}: updateProjectV2ItemFieldValue(input: {{{base}, "
                             f"value: {{number: $v{i}}}}}) {{ projectV2Item {{ id }} }}")
        document = f"mutation({', '.join(params)}) {{\n  " + "\n  ".join(parts) + "\n}"
        self._client.graphql(document, variables, mutation=True)
