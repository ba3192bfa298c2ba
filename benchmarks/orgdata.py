"""Generate a real support organisation's data for the benchmarks, fast (numpy).

    python benchmarks/orgdata.py DIR [--records 1200000] [--customers 20000] [--issues 5000]
    python benchmarks/orgdata.py DIR --append 12000     # 1 % more, in the last day

The shape of issue 9's "Performance" section: 20,000 customers with skewed activity
(lognormal), 1,000,000 survey rows (a fifth offered and unanswered) and 200,000 tickets
over six months, 5,000 issues of which about 4,500 open over 8 features (about 600 open
bugs per feature, some carrying two feature labels, a few none), explicit references on
about one ticket in eight (in the reference field or the text). Issue titles and bodies
(a few hundred words) are built from each bug's own components, symptom, trigger,
platform and error code mixed with generic product words; ticket subjects, descriptions
and survey comments are drawn from the bug they are about (Zipf within the feature), in
customers' words, with noise; some tickets say nothing about which bug.

--records sets survey rows + tickets (5:1); customers and issues stay, so a growth table
shows cost against records. Writes csat.csv, tickets.jsonl, customers.csv, issues.json,
bench.toml (file tracker, the [impact] of config.example.toml, the features) and
orgdata.json (what was generated, for --append) into DIR.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from orgvocab import (
    ACTIONS,
    CLOSERS,
    COMPONENTS,
    CONDITIONS,
    CONTEXT,
    CUSTOMER_NOTES,
    FEATURE_TALK,
    FEATURES,
    GENERIC_SUBJECTS,
    NEGATIVE,
    OPENERS,
    PLATFORMS,
    POSITIVE,
    REPORT_NOTES,
    SYMPTOMS,
)

ROOT = Path(__file__).resolve().parents[1]
AS_OF = datetime(2026, 11, 21, tzinfo=UTC)
DAYS = 180
REPO = "acme/shop"
TICKET_SHARE = 1 / 6  # 200,000 tickets of 1,200,000 records
OFFERED = 0.2
REFERENCED = 1 / 8  # tickets with an explicit reference
GENERIC = 0.15  # complaints that say nothing about which bug
ZIPF = 1.1  # complaints about a feature's n-th bug ∝ 1 / n^ZIPF
OPEN = 0.9
SECOND_LABEL = 0.12
NO_FEATURE = 0.01  # open issues without a feature label: linked by references alone
SUBJECTS, SENTENCES = 8, 10  # variants per bug
CHUNK = 300_000  # records generated and written at a time
PLANS = [("free", 0.45, 0.0), ("pro", 0.33, 1200.0), ("business", 0.17, 9000.0),
         ("enterprise", 0.05, 60000.0)]
NAMES = list(FEATURES)


@dataclass
class Org:
    """The stable part: customers, issues and what customers write about each issue."""

    customer_p: np.ndarray  # activity, summing to 1
    plans: list[str]
    arr: list[str]
    numbers: np.ndarray
    feature: np.ndarray  # primary feature index, -1 for none
    second: np.ndarray  # second feature index, -1 for none
    is_open: np.ndarray
    texts: Texts
    bugs: list[np.ndarray]  # per feature: issue indices complaints can be about…
    bug_p: list[np.ndarray]  # …and how likely each is (Zipf over a random order)
    ref_forms: np.ndarray  # per issue: #N, #N, owner/repo#N, URL
    customer_names: np.ndarray
    user_names: np.ndarray
    plan_names: np.ndarray


@dataclass
class Texts:
    """Issue titles and bodies; SUBJECTS subjects and SENTENCES sentences per issue, flat."""

    titles: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    subject_pool: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    sentence_pool: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))


def build(seed: int, customers: int, issues: int) -> Org:
    """Return the organisation: the same for the same seed and sizes."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.5, customers)
    plan_index = rng.choice(len(PLANS), customers, p=[p for _, p, _ in PLANS])
    activity *= np.array([0.6, 1.0, 1.6, 2.5])[plan_index]
    base = np.array([a for _, _, a in PLANS])[plan_index] * rng.uniform(0.6, 1.8, customers)
    unknown = (rng.random(customers) < 0.05) & (plan_index > 0)
    arr = ["" if u else f"{round(a, -1):.0f}" for a, u in zip(base, unknown, strict=True)]
    numbers = np.cumsum(rng.integers(1, 4, issues))  # pull requests take numbers too
    topic = rng.integers(0, len(NAMES), issues)
    second = np.where(rng.random(issues) < SECOND_LABEL,
                      (topic + rng.integers(1, len(NAMES), issues)) % len(NAMES), -1)
    is_open = rng.random(issues) < OPEN
    unlabelled = is_open & (rng.random(issues) < NO_FEATURE)
    feature = np.where(unlabelled, -1, topic)
    bugs, bug_p = [], []
    for f in range(len(NAMES)):
        order = rng.permutation(np.flatnonzero(feature == f))
        weights = 1.0 / np.arange(1, len(order) + 1) ** ZIPF
        bugs.append(order)
        bug_p.append(weights / weights.sum())
    plans = [PLANS[i][0] for i in plan_index]
    return Org(activity / activity.sum(), plans, arr, numbers, feature,
               np.where(unlabelled, -1, second), is_open, write_texts(seed, topic, numbers),
               bugs, bug_p,
               np.array([[f"#{n}", f"#{n}", f"{REPO}#{n}", f"https://github.com/{REPO}/issues/{n}"]
                         for n in numbers.tolist()], dtype=object),
               strings([f"c{i}" for i in range(customers)]),
               strings([f"u{i}" for i in range(customers)]), strings(plans))


def pick(rng: random.Random, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.random() * len(options))]


def said(rng: random.Random, synonyms: tuple[str, ...]) -> str:
    """Return what a customer calls a component: mostly not the engineers' word."""
    return pick(rng, synonyms[1:]) if len(synonyms) > 1 and rng.random() < 0.7 else synonyms[0]


def write_texts(seed: int, topic: np.ndarray, numbers: np.ndarray) -> Texts:
    """Give each issue a title, a body, and the subjects and sentences of its complaints."""
    rng = random.Random(seed)  # scalar draws: the standard library's are faster
    out = Texts()
    for i, f in enumerate(topic.tolist()):
        name = NAMES[f]
        c1, c2 = rng.sample(COMPONENTS[name], 2)
        symptom, paraphrases = rng.choice(SYMPTOMS)
        action, condition = pick(rng, ACTIONS), pick(rng, CONDITIONS)
        platform, platform_said = rng.choice(PLATFORMS)
        code = f"E{4000 + 7 * i:05d}"
        title = pick(rng, (f"{c1[0]} {symptom} when {action}", f"{c1[0]} {symptom} on {platform}",
                           f"{c1[0]} {symptom} {condition}", f"{c2[0]} and {c1[0]} {symptom}"))
        out.titles.append(title[0].upper() + title[1:])
        out.bodies.append(body(rng, name, c1, c2, symptom, paraphrases, action, condition,
                               platform, code, int(numbers[max(0, i - 40)])))
        feature_words = name.replace("-", " ")
        for _ in range(SUBJECTS):
            s1, p = said(rng, c1), pick(rng, paraphrases)
            subject = pick(rng, (f"{s1} {p}", f"{s1} {p} on {platform_said}",
                                 f"{s1} {p} when {action}", f"{said(rng, c2)} {p}",
                                 f"Urgent: {s1} {p}", f"{s1} problem",
                                 pick(rng, GENERIC_SUBJECTS).format(f=feature_words,
                                                                    F=feature_words)))
            out.subjects.append(subject[0].upper() + subject[1:])
        for _ in range(SENTENCES):
            s1, s2, p = said(rng, c1), said(rng, c2), pick(rng, paraphrases)
            out.sentences.append(pick(rng, (
                f"The {s1} {p} when we are {action}.",
                f"Since this morning the {s1} {p} {condition}.",
                f"Every time we try {action}, the {s1} {p}.",
                f"Our {s2} {p} too.", f"It happens on {platform_said}.",
                f"We see it on {platform_said} {condition}.",
                f"The {s1} {p} for all our staff.", f"The screen says error {code}.",
                f"{pick(rng, FEATURE_TALK[name]).capitalize()}.",
                f"The {s1} and the {s2} {p}.")))
    out.subject_pool, out.sentence_pool = strings(out.subjects), strings(out.sentences)
    return out


def body(rng: random.Random, name: str, c1: tuple[str, ...], c2: tuple[str, ...],
         symptom: str, paraphrases: tuple[str, ...], action: str, condition: str,
         platform: str, code: str, related: int) -> str:
    """Return an issue body as engineers write them: summary, steps, logs, notes."""
    slug, slug2 = (c[0].lower().replace(" ", "_").replace("-", "_") for c in (c1, c2))
    camel = "".join(w.capitalize() for w in slug.split("_"))
    notes = rng.sample(REPORT_NOTES, 8)
    release = f"4.{rng.randint(2, 30)}.{rng.randint(0, 9)}"
    return "\n".join([
        f"When {action} {condition}, the {c1[0]} {symptom} on {platform}. {notes[0]} "
        f"The {c2[0]} is affected as well: it {pick(rng, paraphrases)} for some accounts.",
        "", "### Steps to reproduce",
        f"1. Sign in as an admin on {platform}",
        f"2. Open the {c1[0]} page under {name.replace('-', ' ').title()}",
        f"3. Start {action} with the {c2[0]}", f"4. Repeat {condition}",
        f"5. Watch the {c1[0]}", "",
        f"### Expected\nThe {c1[0]} works as usual and the {c2[0]} is updated.", "",
        f"### Actual\nThe {c1[0]} {symptom}. Customers say it {pick(rng, paraphrases)} and "
        f"that the {said(rng, c1)} {pick(rng, paraphrases)}. {notes[1]}", "",
        f"### Environment\n{platform}, release {release}, feature flag {slug}_v2 on.", "",
        "### Logs", "```",
        f"ERROR {code} {slug}.{action.replace(' ', '_')} failed: {symptom} after "
        f"{rng.randint(200, 30000)} ms",
        f"    at {camel}Service.handle ({slug}/service.ts:{rng.randint(10, 900)})",
        f"    at {slug2}.controller ({slug2}/controller.ts:{rng.randint(10, 900)})",
        f"GET /api/{name}/{slug} -> {pick(rng, ('500', '502', '504', '409', '200'))}", "```",
        "", "### Notes",
        f"- {notes[2]}", f"- {notes[3]}", f"- Customers describe it as \"the "
        f"{said(rng, c1)} {pick(rng, paraphrases)}\" or \"{said(rng, c2)} "
        f"{pick(rng, paraphrases)}\".", f"- {notes[4]}", f"- Possibly related to #{related}.",
        "", "### Impact",
        f"Accounts that rely on the {c1[0]} every day are hit first; the {said(rng, c2)} "
        f"{pick(rng, paraphrases)} for them as well. {notes[5]} {notes[6]}", "",
        "### Workaround",
        f"Avoid {action} {condition} until the fix ships, or use the {c2[0]} from another "
        f"device. {notes[7]}",
    ])


@dataclass
class Batch:
    """One batch of records, ready to write."""

    tickets: list[dict[str, Any]]
    responses: list[np.ndarray | list[str]]  # columns, in CSAT_HEADER order


@dataclass
class Tickets:
    """What a survey row that rates a ticket takes from it."""

    ids: np.ndarray
    customer: np.ndarray
    solved: np.ndarray  # updated_at, as a survey time


CSAT_HEADER = ["id", "submitted_at", "score", "status", "customer_id", "respondent_id",
               "comment", "tags", "ticket_id", "issue_refs", "plan", "platform"]


def records(org: Org, n: int, first_ticket: int, first_response: int, days: float,
            seed: int) -> Batch:
    """Return n records (tickets and survey rows, 1:5) over the last `days` before AS_OF."""
    rng = np.random.default_rng(seed)
    t = round(n * TICKET_SHARE)
    rows, tickets = ticket_rows(org, rng, t, first_ticket, days)
    return Batch(rows, response_rows(org, rng, n - t, first_response, days, tickets))


def topics(org: Org, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return each record's feature and the issue it is about (-1: generic)."""
    volume = np.array([FEATURES[f][3] for f in NAMES], dtype=float)
    feature = rng.choice(len(NAMES), n, p=volume / volume.sum())
    bug = np.full(n, -1)
    specific = rng.random(n) >= GENERIC
    for f in range(len(NAMES)):
        mask = specific & (feature == f)
        bug[mask] = rng.choice(org.bugs[f], int(mask.sum()), p=org.bug_p[f])
    return feature, bug


def times(rng: np.random.Generator, n: int, days: float) -> np.ndarray:
    end = np.datetime64(AS_OF.replace(tzinfo=None), "s")
    return end - rng.integers(0, int(days * 86400), n).astype("timedelta64[s]")


def strings(values: list[str]) -> np.ndarray:
    """Return an object array: + on two of them concatenates element by element."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def per_feature(table: dict[str, list[str]], width: int) -> np.ndarray:
    """Return a (feature, width) table cycling through each feature's strings."""
    return np.array([[table[f][k % len(table[f])] for k in range(width)] for f in NAMES],
                    dtype=object)


def pooled(org: Org, rng: np.random.Generator, pool: np.ndarray, per: int, bug: np.ndarray,
           feature: np.ndarray, generic: np.ndarray) -> np.ndarray:
    """Return one string per record: a variant of its bug's, or its feature's generic one."""
    k = rng.integers(0, per, len(bug))
    out = generic[feature, k % generic.shape[1]]
    mask = bug >= 0
    out[mask] = pool[bug[mask] * per + k[mask]]
    return out


def ticket_rows(org: Org, rng: np.random.Generator, n: int, first: int,
                days: float) -> tuple[list[dict[str, Any]], Tickets]:
    feature, bug = topics(org, rng, n)
    customer = rng.choice(len(org.plans), n, p=org.customer_p)
    created = times(rng, n, days)
    updated = np.minimum(created + rng.integers(3600, 72 * 3600, n).astype("timedelta64[s]"),
                         np.datetime64(AS_OF.replace(tzinfo=None), "s"))
    words = {f: [f.replace("-", " ")] for f in NAMES}
    generic_subjects = np.array([[g.format(f=words[f][0], F=words[f][0].capitalize())
                                  for g in GENERIC_SUBJECTS] for f in NAMES], dtype=object)
    talk = per_feature({f: [f"{t[0].upper()}{t[1:]}." for t in FEATURE_TALK[f]]
                        for f in NAMES}, 2)
    subject = pooled(org, rng, org.texts.subject_pool, SUBJECTS, bug, feature, generic_subjects)
    first_line = pooled(org, rng, org.texts.sentence_pool, SENTENCES, bug, feature, talk)
    second = pooled(org, rng, org.texts.sentence_pool, SENTENCES, bug, feature, talk)
    third = pooled(org, rng, org.texts.sentence_pool, SENTENCES, bug, feature, talk)
    second = np.where(rng.random(n) < 0.7, " " + second, "")
    third = np.where(rng.random(n) < 0.3, " " + third, "")
    note = strings([f" {c}" if c else "" for c in CUSTOMER_NOTES])[
        rng.integers(0, len(CUSTOMER_NOTES), n)]
    opener = strings([f"{o}\n\n" if o else "" for o in OPENERS])[
        rng.integers(0, len(OPENERS), n)]
    context = strings([f" {c}" if c else "" for c in CONTEXT])[rng.integers(0, len(CONTEXT), n)]
    closer = strings([f"\n\n{c}" if c else "" for c in CLOSERS])[
        rng.integers(0, len(CLOSERS), n)]
    # One ticket in eight names a bug: mostly in the reference field, else in its text.
    refs = (bug >= 0) & (rng.random(n) < REFERENCED / (1 - GENERIC))
    in_text = refs & (rng.random(n) < 0.3)
    unlabelled = np.flatnonzero(org.feature < 0)
    target = bug.copy()
    if len(unlabelled):
        elsewhere = rng.random(n) < 0.03
        target[elsewhere] = rng.choice(unlabelled, int(elsewhere.sum()))
    form = rng.integers(0, 4, n)
    ref = org.ref_forms[target, form]
    in_field = np.where(refs & ~in_text, ref, "")
    ps = np.where(in_text, "\n\nP.S. this looks like " + org.ref_forms[target, form | 2], "")
    description = opener + first_line + second + third + context + note + closer + ps
    aliases = per_feature({f: list(FEATURES[f][0]) for f in NAMES}, 3)
    tag = aliases[feature, rng.integers(0, 3, n)]
    noise = rng.choice(["web", "urgent", "vip", "mobile", "enterprise", ""], n)
    status = rng.choice(["solved", "solved", "closed", "open", "pending"], n)
    platform = rng.choice(["web", "ios", "android"], n, p=[0.6, 0.22, 0.18])
    ids = strings([f"T{first + i}" for i in range(n)])
    created_s = np.datetime_as_string(created, unit="s").astype(object) + "Z"
    updated_s = np.datetime_as_string(updated, unit="s").astype(object)
    requester = org.user_names[customer] + strings(["-0", "-1", "-2"])[np.arange(n) % 3]
    rows = [{"id": i, "created_at": c, "updated_at": u + "Z", "customer_id": k,
             "requester_id": r, "status": st, "subject": su, "description": d,
             "tags": [t, o] if o else [t], "issue_refs": fi, "plan": p, "platform": pl}
            for i, c, u, k, r, st, su, d, t, o, fi, p, pl in zip(
                ids.tolist(), created_s.tolist(), updated_s.tolist(),
                org.customer_names[customer].tolist(), requester.tolist(), status.tolist(),
                subject.tolist(), description.tolist(), tag.tolist(), noise.tolist(),
                in_field.tolist(), org.plan_names[customer].tolist(), platform.tolist(),
                strict=True)]
    solved = np.char.replace(updated_s.astype(str), "T", " ").astype(object)
    return rows, Tickets(ids, customer, solved)


def response_rows(org: Org, rng: np.random.Generator, n: int, first: int, days: float,
                  tickets: Tickets) -> list[np.ndarray | list[str]]:
    feature, bug = topics(org, rng, n)
    customer = rng.choice(len(org.plans), n, p=org.customer_p)
    at = np.char.replace(np.datetime_as_string(times(rng, n, days), unit="s"), "T", " ")
    at = at.astype(object)
    offered = rng.random(n) < OFFERED
    dissatisfied = np.array([FEATURES[f][2] for f in NAMES])[feature]
    unhappy = ~offered & (rng.random(n) < dissatisfied)
    score = np.where(offered, "", np.where(unhappy, rng.integers(1, 4, n),
                                           rng.integers(4, 6, n)).astype(str).astype(object))
    # Comments: most dissatisfied answers describe their bug, some only complain.
    roll = rng.random(n)
    comment = np.full(n, "", dtype=object)
    negative = strings(NEGATIVE)[rng.integers(0, len(NEGATIVE), n)]
    describes = unhappy & (bug >= 0) & (roll < 0.45)
    complains = unhappy & (roll < 0.55) & ~describes
    talk = per_feature({f: [f"{t[0].upper()}{t[1:]}." for t in FEATURE_TALK[f]]
                        for f in NAMES}, 2)
    comment[describes] = pooled(org, rng, org.texts.sentence_pool, SENTENCES, bug[describes],
                                feature[describes], talk)
    both = describes & (roll < 0.12)
    comment[both] = negative[both] + " " + comment[both]
    comment[complains] = negative[complains]
    praises = ~offered & ~unhappy & (roll < 0.2)
    comment[praises] = strings(POSITIVE)[rng.integers(0, len(POSITIVE), int(praises.sum()))]
    aliases = per_feature({f: list(FEATURES[f][0]) for f in NAMES}, 3)
    tags = aliases[feature, rng.integers(0, 3, n)]
    ticket = np.full(n, "", dtype=object)
    # Some rate a ticket (they inherit its tags, references and text); a few name a bug.
    if len(tickets.ids):
        rated = rng.random(n) < 0.05
        which = rng.integers(0, len(tickets.ids), int(rated.sum()))
        ticket[rated], tags[rated] = tickets.ids[which], ""
        customer[rated], at[rated] = tickets.customer[which], tickets.solved[which]
    named = unhappy & (bug >= 0) & (rng.random(n) < 0.01)
    refs = np.where(named, org.ref_forms[np.maximum(bug, 0), 0], "")
    names = org.customer_names[customer]
    names[rng.random(n) < 0.02] = ""  # respondents without an account
    respondent = org.user_names[customer] + strings(["-0", "-1", "-2"])[np.arange(n) % 3]
    return [[f"R{first + i}" for i in range(n)], at, score,
            np.where(offered, "offered", "answered"), names, respondent, comment, tags, ticket,
            refs, org.plan_names[customer], rng.choice(["web", "ios", "android"], n,
                                                       p=[0.6, 0.22, 0.18])]


def write_batch(folder: Path, batch: Batch, append: bool) -> None:
    mode = "a" if append else "w"
    with (folder / "tickets.jsonl").open(mode, encoding="utf-8", newline="\n") as f:
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        f.writelines(dumps(t) + "\n" for t in batch.tickets)
    with (folder / "csat.csv").open(mode, encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        if not append:
            writer.writerow(CSAT_HEADER)
        columns = [c.tolist() if isinstance(c, np.ndarray) else c for c in batch.responses]
        writer.writerows(zip(*columns, strict=True))


def write_org(folder: Path, org: Org) -> None:
    with (folder / "customers.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "name", "plan", "arr"])
        writer.writerows([f"c{i}", f"Customer {i}", plan, arr]
                         for i, (plan, arr) in enumerate(zip(org.plans, org.arr, strict=True)))
    items = []
    for i, number in enumerate(org.numbers.tolist()):
        labels = [FEATURES[NAMES[f]][1] for f in (int(org.feature[i]), int(org.second[i]))
                  if f >= 0]
        items.append({"number": number, "title": org.texts.titles[i],
                      "state": "OPEN" if org.is_open[i] else "CLOSED",
                      "labels": [{"name": n} for n in [*labels, "bug"]],
                      "url": f"https://github.com/{REPO}/issues/{number}",
                      "body": org.texts.bodies[i]})
    (folder / "issues.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    (folder / "bench.toml").write_text(config(folder), encoding="utf-8")


def impact_table() -> str:
    """Return config.example.toml's [impact] table, so the benchmark runs its defaults."""
    impact = tomllib.loads((ROOT / "config.example.toml").read_text("utf-8"))["impact"]
    return "[impact]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in impact.items())


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def config(folder: Path, store: str | None = None) -> str:
    """Return the benchmark's config: these files, a file tracker, SQLite in DIR by default."""
    features = "".join(
        f"[features.{name}]\ntags = {toml_value(list(aliases))}\nlabels = [\"{label}\"]\n\n"
        for name, (aliases, label, _, _) in FEATURES.items())
    url = store or f"sqlite:///{folder.resolve()}/bench.db"
    return f"""[store]
url = "{url}"

{impact_table()}
{features}[[sources]]
name = "accounts"
type = "csv"
kind = "customers"
path = "customers.csv"

[[sources]]
name = "tickets"
type = "jsonl"
kind = "tickets"
path = "tickets.jsonl"
segments = ["plan", "platform"]

[[sources]]
name = "csat"
type = "csv"
kind = "csat"
path = "csat.csv"
scale = "1-5"
segments = ["plan", "platform"]
ticket_source = "tickets"

[tracker]
type = "file"
path = "issues.json"
default_repo = "{REPO}"
"""


def generate(folder: Path, records_: int = 1_200_000, customers: int = 20_000,
             issues: int = 5_000, seed: int = 9) -> dict[str, Any]:
    """Write a fresh data set into folder; return what was written (orgdata.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    org = build(seed, customers, issues)
    write_org(folder, org)
    meta = {"seed": seed, "customers": customers, "issues": issues, "as_of": AS_OF.isoformat(),
            "tickets": 0, "responses": 0, "batches": 0, "open_issues": int(org.is_open.sum())}
    for _ in range(0, records_, CHUNK):  # in chunks, so that memory stays flat
        add(folder, org, meta, min(CHUNK, records_ - meta["tickets"] - meta["responses"]),
            DAYS)
    return meta


def append(folder: Path, records_: int) -> dict[str, Any]:
    """Append records dated in the last day before AS_OF, new ids, same customers and issues."""
    meta = json.loads((folder / "orgdata.json").read_text(encoding="utf-8"))
    add(folder, build(meta["seed"], meta["customers"], meta["issues"]), meta, records_, 1)
    return meta


def add(folder: Path, org: Org, meta: dict[str, Any], n: int, days: float) -> None:
    """Write one batch of n records after those in meta, and meta itself."""
    batch = records(org, n, meta["tickets"], meta["responses"], days,
                    meta["seed"] + 1 + meta["batches"])
    write_batch(folder, batch, append=meta["batches"] > 0)
    meta["tickets"] += len(batch.tickets)
    meta["responses"] += len(batch.responses[0])
    meta["batches"] += 1
    (folder / "orgdata.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--records", type=int, default=1_200_000,
                        help="survey rows + tickets (5:1); default 1,200,000")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--issues", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--append", type=int, metavar="N",
                        help="append N records to an existing data set instead")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.append:
        meta = append(args.folder, args.append)
    else:
        meta = generate(args.folder, args.records, args.customers, args.issues, args.seed)
    size = sum(p.stat().st_size for p in args.folder.iterdir() if p.is_file()) / 2**20
    print(f"{meta['responses']:,} survey rows + {meta['tickets']:,} tickets, "
          f"{meta['customers']:,} customers, {meta['issues']:,} issues "
          f"({meta['open_issues']:,} open) in {args.folder}: {size:,.0f} MB, "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
