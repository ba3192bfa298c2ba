"""The GraphQL roots of the fake GitHub: graphql-core's default resolver calls these methods.

Each returns plain dicts shaped like GitHub's schema; a field with arguments is a callable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes.github_server import FakeGithub, Project


class GhError(Exception):
    """A GraphQL error GitHub would report with a type (NOT_FOUND, FORBIDDEN, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind



class Queries:
    """Query root: graphql-core's default resolver calls these with the field's arguments."""

    def __init__(self, fake: FakeGithub) -> None:
        self.fake = fake

    def _owner(self, kind: str, login: str) -> dict[str, Any]:
        def project_v2(info: Any, number: int) -> dict[str, Any]:
            for project in self.fake.projects:
                if (project.owner.lower(), project.owner_type, project.number) == \
                        (login.lower(), kind, number):
                    return self.fake.project_view(project)
            raise GhError("NOT_FOUND",
                          f"Could not resolve to a ProjectV2 with the number {number}.")

        return {"login": login, "projectV2": project_v2}

    def organization(self, info: Any, login: str) -> dict[str, Any]:
        return self._owner("org", login)

    def user(self, info: Any, login: str) -> dict[str, Any]:
        return self._owner("user", login)

    def repository(self, info: Any, owner: str, name: str, **_: Any) -> dict[str, Any]:
        repo = self.fake.repos.get(f"{owner}/{name}".lower())
        if repo is None:
            raise GhError("NOT_FOUND", f"Could not resolve to a Repository with the name "
                                       f"'{owner}/{name}'.")

        def issue(info: Any, number: int) -> dict[str, Any]:
            if number not in repo.issues or "pull_request" in repo.issues[number]:
                raise GhError("NOT_FOUND", f"Could not resolve to an Issue with the number of "
                                           f"{number}.")
            return self._issue(repo.issues[number])

        return {"issue": issue}

    def _issue(self, issue: dict[str, Any]) -> dict[str, Any]:
        def project_items(info: Any, **_: Any) -> dict[str, Any]:
            nodes = [{"id": item_id, "project": self.fake.project_view(p)}
                     for p in self.fake.projects for item_id, item in p.items.items()
                     if item["content"] == issue["node_id"]]
            return {"nodes": nodes, "totalCount": len(nodes)}

        def labels(info: Any, first: int | None = None, **_: Any) -> dict[str, Any]:
            nodes = [{"name": lb["name"]} for lb in issue["labels"]][:first or 100]
            return {"nodes": nodes, "totalCount": len(issue["labels"])}

        return {"__typename": "Issue", "id": issue["node_id"], "number": issue["number"],
                "title": issue["title"], "body": issue["body"] or "",
                "state": issue["state"].upper(), "url": issue["html_url"],
                "comments": {"totalCount": len(issue["comments"])}, "labels": labels,
                "projectItems": project_items}

    def node(self, info: Any, id: str) -> dict[str, Any] | None:
        issue = self.fake.issue_by_node(id)
        if issue is None:
            raise GhError("NOT_FOUND", f"Could not resolve to a node with the global id of "
                                       f"'{id}'")
        return self._issue(issue)


class Mutations:
    """Mutation root."""

    def __init__(self, fake: FakeGithub) -> None:
        self.fake = fake

    def addProjectV2ItemById(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        project = self.fake.project(input["projectId"])
        if self.fake.issue_by_node(input["contentId"]) is None:
            raise GhError("NOT_FOUND", "Could not resolve to a node with the global id")
        for item_id, item in project.items.items():
            if item["content"] == input["contentId"]:
                return {"item": {"id": item_id}}
        item_id = f"PVTI_{self.fake.new_id()}"
        project.items[item_id] = {"content": input["contentId"], "values": {}}
        return {"item": {"id": item_id}}

    def _item(self, input: dict[str, Any]) -> tuple[Project, dict[str, Any]]:
        project = self.fake.project(input["projectId"])
        item = project.items.get(input["itemId"])
        if item is None:
            raise GhError("NOT_FOUND", f"Could not resolve to a node with the global id of "
                                       f"'{input['itemId']}'")
        if input["fieldId"] not in project.fields:
            raise GhError("NOT_FOUND", "Could not resolve to a ProjectV2Field")
        return project, item

    def updateProjectV2ItemFieldValue(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        project, item = self._item(input)
        if project.fields[input["fieldId"]]["dataType"] != "NUMBER" or \
                set(input["value"]) != {"number"}:
            raise GhError("UNPROCESSABLE", "The field value does not match the field's type")
        item["values"][input["fieldId"]] = input["value"]["number"]
        return {"projectV2Item": {"id": input["itemId"]}}

    def clearProjectV2ItemFieldValue(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        _, item = self._item(input)
        item["values"].pop(input["fieldId"], None)
        return {"projectV2Item": {"id": input["itemId"]}}

    def createProjectV2Field(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        project = self.fake.project(input["projectId"])
        if any(f["name"] == input["name"] for f in project.fields.values()):
            raise GhError("UNPROCESSABLE", "Name has already been taken")
        fid = f"PVTF_{self.fake.new_id()}"
        project.fields[fid] = {"id": fid, "name": input["name"], "dataType": input["dataType"]}
        return {"projectV2Field": {"__typename": "ProjectV2Field", **project.fields[fid]}}
