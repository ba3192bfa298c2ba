"""The feature catalog, link keys, and which issues a record belongs to, and why."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from impactlink.core.attribution import CandidateSet, issue_order
from impactlink.core.models import Issue, IssueKey
from impactlink.core.refs import find_refs
from impactlink.core.tags import normalize_tag, normalize_tags


@dataclass(frozen=True, slots=True)
class Feature:
    """A product area: the source tags that mean it and the tracker labels/components."""

    name: str
    tags: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    active_customers: int | None = None


class Catalog:
    """The feature catalog, indexed by normalised tag, label and component."""

    def __init__(self, features: Iterable[Feature]) -> None:
        self.features: dict[str, Feature] = {f.name: f for f in features}
        self._by_tag: dict[str, set[str]] = {}
        self._by_label: dict[str, set[str]] = {}
        self._by_component: dict[str, set[str]] = {}
        for f in self.features.values():
            for tag in (f.name, *f.tags):
                self._by_tag.setdefault(normalize_tag(tag), set()).add(f.name)
            for label in f.labels:
                self._by_label.setdefault(normalize_tag(label), set()).add(f.name)
            for component in f.components:
                self._by_component.setdefault(normalize_tag(component), set()).add(f.name)

    def features_for_tags(self, tags: Iterable[str]) -> tuple[str, ...]:
        """Return the features whose aliases are among the (normalised) tags."""
        found: set[str] = set()
        for tag in tags:
            found |= self._by_tag.get(tag, set())
        return tuple(sorted(found))

    def features_for_issue(self, issue: Issue) -> tuple[str, ...]:
        """Return the features an issue's labels or components mean."""
        found: set[str] = set()
        for label in issue.labels:
            found |= self._by_label.get(normalize_tag(label), set())
        for component in issue.components:
            found |= self._by_component.get(normalize_tag(component), set())
        return tuple(sorted(found))

    @cached_property
    def fingerprint(self) -> str:
        """Return a hash that changes whenever a record's features could change."""
        shape = sorted((f.name, sorted(normalize_tags((f.name, *f.tags))))
                       for f in self.features.values())
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def link_key(features: Iterable[str], refs: Iterable[str]) -> str:
    """Return the key that stands for a record's features and references ('' when none)."""
    return "|".join(sorted({f"f:{f}" for f in features} | {f"r:{r}" for r in refs}))


def parse_link_key(key: str) -> tuple[frozenset[str], frozenset[str]]:
    """Split a key, or several keys joined by ``|``, into its features and references."""
    features: set[str] = set()
    refs: set[str] = set()
    for item in key.split("|"):
        if item.startswith("f:"):
            features.add(item[2:])
        elif item.startswith("r:"):
            refs.add(item[2:])
    return frozenset(features), frozenset(refs)


@dataclass(frozen=True, slots=True)
class Link:
    """Why a group of records belongs to one issue: the references that name it, or features."""

    issue: IssueKey
    features: tuple[str, ...]
    references: tuple[str, ...]

    @property
    def explicit(self) -> bool:
        return bool(self.references)

    @property
    def reasons(self) -> str:
        parts = [f"references {r}" for r in self.references]
        parts += [f"feature {f}" for f in self.features]
        return "; ".join(parts)


def _issue_refs(key: str) -> tuple[str, ...]:
    """Return the canonical references an issue key answers to."""
    return tuple(find_refs(key)) or (key,)


class Matcher:
    """Maps link keys to the open issues they belong to (IMPACT_MODEL.md, "Matching").

    A key whose references name open issues belongs to those issues only; any other key
    belongs to its candidates, the open issues that share a feature with it.
    """

    def __init__(self, issues: Sequence[Issue], catalog: Catalog, *,
                 default_repo: str | None = None, attribution: str = "shared",
                 texts: Mapping[IssueKey, Sequence[str]] | None = None) -> None:
        self.issues = {i.key: i for i in issues if i.state == "open"}
        self.issue_features = {k: catalog.features_for_issue(i) for k, i in self.issues.items()}
        self.attribution = attribution
        self.texts: Mapping[IssueKey, Sequence[str]] = texts or {}
        self.issues_per_feature: dict[str, int] = {}
        self._by_feature: dict[str, list[IssueKey]] = {}
        for key, feats in sorted(self.issue_features.items(), key=lambda kv: issue_order(kv[0])):
            for f in feats:
                self.issues_per_feature[f] = self.issues_per_feature.get(f, 0) + 1
                self._by_feature.setdefault(f, []).append(key)
        self._by_ref: dict[str, IssueKey] = {}
        prefix = f"{default_repo.lower()}#" if default_repo else None
        for key in self.issues:
            for ref in _issue_refs(key):
                self._by_ref[ref] = key
                if prefix and ref.startswith(prefix):
                    self._by_ref["#" + ref[len(prefix):]] = key
        self._cache: dict[str, tuple[Link, ...]] = {}
        self._sets: dict[frozenset[str], CandidateSet] = {}
        self._candidates: dict[frozenset[str], tuple[IssueKey, ...]] = {}

    def named(self, refs: Iterable[str]) -> dict[IssueKey, set[str]]:
        """Return the open issues that references name, each with the references naming it."""
        out: dict[IssueKey, set[str]] = {}
        for ref in refs:
            issue = self._by_ref.get(ref)
            if issue is not None:
                out.setdefault(issue, set()).add(ref)
        return out

    def candidates(self, features: Iterable[str]) -> tuple[IssueKey, ...]:
        """Return the open issues sharing a feature with these, in issue order (cached)."""
        wanted = frozenset(features)
        found = self._candidates.get(wanted)
        if found is None:
            union = {i for f in wanted for i in self._by_feature.get(f, ())}
            found = self._candidates[wanted] = tuple(sorted(union, key=issue_order))
        return found

    def links(self, key: str) -> tuple[Link, ...]:
        """Return one link per issue the key's records belong to."""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        features, refs = parse_link_key(key)
        named = self.named(refs)
        if named:
            result = tuple(
                Link(issue, tuple(sorted(features & set(self.issue_features[issue]))),
                     tuple(sorted(named[issue])))
                for issue in sorted(named, key=issue_order))
        else:
            result = tuple(
                Link(issue, tuple(sorted(features & set(self.issue_features[issue]))), ())
                for issue in self.candidates(features))
        self._cache[key] = result
        return result

    def is_named(self, key: str) -> bool:
        """Return whether a key's records name an open issue (then they belong to it alone)."""
        links = self.links(key)
        return bool(links) and links[0].explicit

    def candidate_set(self, features: Iterable[str]) -> CandidateSet:
        """Return the BM25 index of the candidates of a feature set (cached)."""
        wanted = frozenset(features)
        found = self._sets.get(wanted)
        if found is None:
            found = self._sets[wanted] = CandidateSet(
                {k: self.texts.get(k, ()) for k in self.candidates(wanted)})
        return found

    def active_customers(self, issue: IssueKey, catalog: Mapping[str, Feature]) -> int | None:
        """Return the largest known active-customer count over the issue's features."""
        known = [u for f in self.issue_features.get(issue, ())
                 if (u := catalog[f].active_customers) is not None]
        return max(known) if known else None
