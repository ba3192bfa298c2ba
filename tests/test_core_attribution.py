"""Text attribution against hand computation: tokens, BM25 within the set, top k, softmax."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impactlink.core.attribution import (
    CandidateSet,
    Match,
    attribute,
    issue_order,
    issue_text,
)
from impactlink.core.models import IssueKey
from impactlink.core.text import TEXT_LIMIT, cap, tokenizer

FAST = settings(max_examples=60, deadline=None)

# --- the tokenizer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("ﬁles", ["file"]),  # NFKC first: the ligature is "fi"
        ("Crashing", ["crash"]),  # case-folded, then stemmed
        ("CRASHES crashed", ["crash", "crash"]),  # repeats kept, in order
        ("x", []),  # one character
        ("2024", []),  # only digits
        ("٢٠٢٤ 〇〇", []),  # Unicode category N (Nd, Nl) has no letter either
        ("h264 v2", ["h264", "v2"]),  # a letter among digits keeps the token
        ("the", []),  # a stopword
        ("Thanks, the app is still crashing!", ["app", "crash"]),
        ("payment_page;checkout-flow", ["payment", "page", "checkout", "flow"]),
        ("Ａｐｐ", ["app"]),  # full-width letters fold to ASCII under NFKC
        ("ß", ["ss"]),  # one character before case-folding, two after: kept
        ("Größe", ["grösse"]),  # casefold ß → ss; Snowball English leaves the rest
        ("café", ["café"]),
        ("", []),
    ],
)
def test_tokenizer_rules(text: str, tokens: list[str]) -> None:
    assert tokenizer().tokens(text) == tokens


def test_terms_are_the_distinct_tokens_sorted() -> None:
    assert tokenizer().terms("Sync stuck; the sync stalls. Stalled sync!") == [
        "stall", "stuck", "sync"]


def test_stopwords_are_dropped_before_stemming() -> None:
    # "thanks" is a stopword; "thanking" is not, and stems to "thank"
    assert tokenizer().tokens("thanks thanking") == ["thank"]


def test_issue_text_is_the_title_and_the_first_2000_characters_of_the_body() -> None:
    body = "a" * TEXT_LIMIT + " overflow"
    assert issue_text("Title", body) == "Title " + "a" * TEXT_LIMIT
    assert issue_text("Title", "") == "Title"
    assert cap(body) == "a" * TEXT_LIMIT
    assert cap(None) == ""


# --- BM25 and the softmax, by hand -----------------------------------------------------------

ONE, TWO, THREE = IssueKey("acme/app#1"), IssueKey("acme/app#2"), IssueKey("acme/app#3")
TEXTS = {
    ONE: ("Sync stalls on large files", "Uploading large files stalls the sync."),
    TWO: ("Sync conflict duplicates files", ""),
    THREE: ("Login loops after password reset", "After a password reset the login page loops."),
}
RECORD = "Sync stuck uploading big files. The sync stalls at 99% on 2024 files, x"


def candidate_set() -> CandidateSet:
    return CandidateSet({k: tokenizer().tokens(issue_text(*t)) for k, t in TEXTS.items()})


def test_tokens_of_the_three_candidates_and_the_record() -> None:
    cs = candidate_set()
    assert sorted(cs.tf[ONE].items()) == [("file", 2), ("larg", 2), ("stall", 2), ("sync", 2),
                                          ("upload", 1)]
    assert sorted(cs.tf[TWO].items()) == [("conflict", 1), ("duplic", 1), ("file", 1),
                                          ("sync", 1)]
    assert (cs.dl[ONE], cs.dl[TWO], cs.dl[THREE]) == (9, 4, 9)
    assert cs.avgdl == pytest.approx(22 / 3)
    # "99", "2024", "x", "the", "at", "on" are dropped; "uploading" is "upload"
    assert tokenizer().terms(RECORD) == ["big", "file", "stall", "stuck", "sync", "upload"]


def test_idf_is_taken_within_the_candidate_set() -> None:
    cs = candidate_set()
    assert (cs.df["sync"], cs.df["file"], cs.df["stall"], cs.df.get("big", 0)) == (2, 2, 1, 0)
    assert cs.idf("sync") == pytest.approx(math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)))  # ln 1.6
    assert cs.idf("stall") == pytest.approx(math.log(8 / 3))  # ln(1 + 2.5 / 1.5)
    assert cs.idf("sync") == pytest.approx(0.470004, abs=1e-6)
    assert cs.idf("stall") == pytest.approx(0.980829, abs=1e-6)


def bm25_term(idf: float, tf: int, dl: int, avgdl: float) -> float:
    return idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))


def test_bm25_of_the_record_against_each_candidate_by_hand() -> None:
    avgdl = 22 / 3
    idf2, idf1 = math.log(1.6), math.log(8 / 3)
    # #1: tf sync 2, file 2, stall 2, upload 1; dl 9, dl/avgdl = 27/22, norm 1.170455
    s1 = (2 * bm25_term(idf2, 2, 9, avgdl) + bm25_term(idf1, 2, 9, avgdl)
          + bm25_term(idf1, 1, 9, avgdl))
    # #2: tf sync 1, file 1; dl 4, dl/avgdl = 12/22, norm 0.659091
    s2 = 2 * bm25_term(idf2, 1, 4, avgdl)
    assert (s1, s2) == pytest.approx((3.379863, 1.154730), abs=1e-6)
    scores = candidate_set().scores(tokenizer().terms(RECORD))
    assert scores == {ONE: pytest.approx(s1), TWO: pytest.approx(s2)}  # #3 shares no word


def test_attribution_over_three_candidates_by_hand() -> None:
    cs = candidate_set()
    matches = cs.matches(tokenizer().terms(RECORD), 5)
    assert [m.issue for m in matches] == [ONE, TWO]
    a = attribute(matches, cs.m, 1.0)
    e1, e2 = math.exp(3.379863), math.exp(1.154730)  # 29.3671, 3.17321
    z = e1 + e2 + 1  # #3 keeps s = 0: e^0
    assert [a.of(k) for k in (ONE, TWO, THREE)] == [
        pytest.approx(e1 / z, abs=1e-6), pytest.approx(e2 / z, abs=1e-6),
        pytest.approx(1 / z, abs=1e-6)]
    assert [round(a.of(k), 4) for k in (ONE, TWO, THREE)] == [0.8756, 0.0946, 0.0298]


def test_only_the_k_best_candidates_keep_their_score() -> None:
    cs = candidate_set()
    matches = cs.matches(tokenizer().terms(RECORD), 1)
    assert [m.issue for m in matches] == [ONE]
    a = attribute(matches, cs.m, 1.0)
    z = math.exp(3.379863) + 2  # #2's s is set to 0 like #3's
    assert (a.of(ONE), a.of(TWO), a.of(THREE)) == pytest.approx(
        (math.exp(3.379863) / z, 1 / z, 1 / z))
    assert round(a.of(ONE), 4) == 0.9362


def test_no_tokens_or_no_text_gives_no_score() -> None:
    assert candidate_set().scores([]) == {}
    empty = CandidateSet({ONE: [], TWO: []})
    assert empty.avgdl == 0 and empty.scores(["sync"]) == {}
    assert [empty.idf("sync")] == [pytest.approx(math.log(1 + 2.5 / 0.5))]


def test_matched_words_are_the_stems_shared_with_the_issue_text() -> None:
    cs = candidate_set()
    terms = tokenizer().terms(RECORD)
    assert cs.matched_words(terms, ONE) == ["file", "stall", "sync", "upload"]
    assert cs.matched_words(terms, THREE) == []


# --- ties, settings and the softmax ----------------------------------------------------------

@pytest.mark.parametrize(
    ("keys", "k", "kept"),
    [
        # equal texts score equally: the k-th place goes to the smaller (repository, number)
        (["acme/shop#10", "acme/shop#9", "acme/shop#11"], 2, ["acme/shop#9", "acme/shop#10"]),
        (["acme/shop#1", "acme/api#50", "acme/shop#2"], 1, ["acme/api#50"]),
        (["SHOP-100", "SHOP-20", "APP-7"], 2, ["APP-7", "SHOP-20"]),
    ],
)
def test_ties_for_the_kth_place_go_to_the_smaller_repository_and_number(
        keys: list[str], k: int, kept: list[str]) -> None:
    cs = CandidateSet({IssueKey(key): ["crash", "sync"] for key in keys})
    assert [m.issue for m in cs.matches(["crash"], k)] == kept


@pytest.mark.parametrize(
    ("key", "order"),
    [("acme/shop#12", ("acme/shop", 12, "acme/shop#12")), ("SHOP-12", ("SHOP", 12, "SHOP-12")),
     ("odd", ("odd", 0, "odd"))],
)
def test_issue_order_is_repository_then_number(key: str, order: tuple[str, int, str]) -> None:
    assert issue_order(key) == order


MATCHES = (Match(ONE, 2.0), Match(TWO, 0.5))


def test_text_attribution_off_or_zero_weight_gives_the_even_split() -> None:
    for a in (attribute(MATCHES, 4, 1.0, text=False), attribute(MATCHES, 4, 0.0),
              attribute((), 4, 1.0)):
        assert [a.of(k) for k in (ONE, TWO, THREE)] == [0.25, 0.25, 0.25]


def test_full_feature_attribution_gives_every_candidate_the_whole_record() -> None:
    a = attribute(MATCHES, 4, 1.0, mode="full")
    assert [a.of(k) for k in (ONE, TWO, THREE)] == [1.0, 1.0, 1.0]


def test_softmax_is_stable_for_a_large_weight() -> None:
    a = attribute(MATCHES, 3, 1000.0)  # e^2000 overflows a float; shifted, it does not
    assert (a.of(ONE), a.of(TWO), a.of(THREE)) == pytest.approx((1.0, 0.0, 0.0))
    assert a.of(TWO) < 1e-300 and a.of(THREE) < 1e-300
    tied = attribute((Match(ONE, 800.0), Match(TWO, 800.0)), 3, 1.0)
    assert (tied.of(ONE), tied.of(TWO)) == pytest.approx((0.5, 0.5))
    assert math.isfinite(tied.of(THREE)) and tied.of(THREE) == pytest.approx(0.0)


def test_a_weak_match_convinces_less_among_many_candidates() -> None:
    one_match = (Match(ONE, 1.0),)
    assert attribute(one_match, 3, 1.0).of(ONE) == pytest.approx(math.e / (math.e + 2))
    assert attribute(one_match, 600, 1.0).of(ONE) == pytest.approx(math.e / (math.e + 599))


# --- attributions add up to 1 ----------------------------------------------------------------

WORDS = ["sync", "stall", "file", "crash", "login", "card", "coupon", "page"]
issue_keys = st.lists(st.sampled_from([f"acme/app#{n}" for n in range(1, 13)] + ["APP-3"]),
                      min_size=1, max_size=9, unique=True)


@FAST
@given(keys=issue_keys, data=st.data(), k=st.integers(0, 10),
       beta=st.sampled_from([0.0, 0.3, 1.0, 5.0, 80.0, 1000.0]),
       record=st.lists(st.sampled_from(WORDS), max_size=6),
       mode=st.sampled_from(["shared", "shared", "full"]), text=st.booleans())
def test_attributions_of_a_feature_only_record_add_up_to_one(
        keys: list[str], data: st.DataObject, k: int, beta: float, record: list[str],
        mode: str, text: bool) -> None:
    texts = {IssueKey(key): data.draw(st.lists(st.sampled_from(WORDS), max_size=8))
             for key in keys}
    cs = CandidateSet(texts)
    matches = cs.matches(record, k)
    assert len(matches) <= k and all(m.score > 0 for m in matches)
    a = attribute(matches, cs.m, beta, mode=mode, text=text)
    shares = [a.of(key) for key in cs.keys]
    assert all(0.0 <= x <= 1.0 for x in shares)
    if mode == "full":
        assert shares == [1.0] * cs.m
    else:
        assert math.fsum(shares) == pytest.approx(1.0, abs=1e-9)
        if not text or beta == 0 or not matches:
            assert shares == [1 / cs.m] * cs.m
