"""Second-stage rerankers and fusion rules reorder candidates without a model download."""

import pytest

from rag.rerank import (
    Candidate,
    HeadingReranker,
    LexicalReranker,
    configured_reranker,
    parse_rerank_response,
)
from rag.retrieval import (
    keep_clear_winner_first,
    keep_each_methods_best_near_top,
    reciprocal_rank_fusion,
)
from rag.stores import VectorMatch


def candidates() -> list[Candidate]:
    return [
        Candidate(
            "COVERED SERVICES > Habilitation", "rehabilitation in passing", 0.030
        ),
        Candidate(
            "COVERED SERVICES > Rehabilitation Therapy", "physical therapy", 0.029
        ),
        Candidate("COVERED SERVICES > Surgery", "surgery text", 0.028),
    ]


def test_heading_that_names_the_question_lifts_a_close_candidate():
    # when
    scores = HeadingReranker().scores(
        "Is rehabilitation therapy covered?", candidates()
    )

    # then
    order = sorted(range(3), key=lambda i: -scores[i])
    assert order == [1, 0, 2]


def test_heading_shared_by_every_candidate_keeps_the_first_stage_order():
    scores = HeadingReranker().scores("What do covered services include?", candidates())

    assert scores == sorted(scores, reverse=True)


def test_heading_cannot_lift_a_far_weaker_candidate():
    # given
    weak = [
        Candidate("Plan", "the answer", 0.033),
        Candidate("Rehabilitation", "in passing", 0.010),
    ]

    # when
    scores = HeadingReranker().scores("rehabilitation", weak)

    # then
    assert scores[0] > scores[1]


def test_lexical_reranker_prefers_rarer_question_words():
    scores = LexicalReranker().scores("surgery", candidates())

    assert scores.index(max(scores)) == 2


def test_provider_response_is_read_in_candidate_order():
    payload = {
        "results": [
            {"index": 2, "relevance_score": 0.9},
            {"index": 0, "relevance_score": 0.1},
        ]
    }

    assert parse_rerank_response(payload, 3) == [0.1, 0.0, 0.9]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        pytest.param("none", None, id="none_case"),
        pytest.param("heading", HeadingReranker, id="heading_case"),
        pytest.param("lexical", LexicalReranker, id="lexical_case"),
        pytest.param("provider", None, id="provider_without_url_case"),
    ],
)
def test_setting_chooses_the_reranker(settings, choice, expected):
    settings.RAG = {**settings.RAG, "RERANKER": choice, "RERANK_BASE_URL": ""}

    reranker = configured_reranker()

    assert reranker is None if expected is None else isinstance(reranker, expected)


def test_clear_dense_winner_stays_first_after_fusion(settings):
    # given: chunk 7 leads by meaning; chunk 3 is second by meaning but first
    # by a shared word, so rank fusion alone puts it first
    settings.RAG = {**settings.RAG, "CLEAR_WINNER_MARGIN": 0.04}
    dense = [VectorMatch(7, 0.62), VectorMatch(3, 0.50), VectorMatch(5, 0.49)]
    fused = reciprocal_rank_fusion([[7, 3, 5], [3, 5]])

    # when
    kept = keep_clear_winner_first(fused, dense)

    # then
    assert fused[0][0] == 3
    assert [chunk_id for chunk_id, _ in kept] == [7, 3, 5]


def test_close_dense_scores_leave_the_fused_order(settings):
    settings.RAG = {**settings.RAG, "CLEAR_WINNER_MARGIN": 0.04}
    dense = [VectorMatch(7, 0.52), VectorMatch(3, 0.50)]
    fused = reciprocal_rank_fusion([[7, 3], [3]])

    assert keep_clear_winner_first(fused, dense) == fused


def test_each_methods_best_is_moved_into_the_first_three():
    # given: chunk 9 is the full-text search's best, but the dense search
    # ranks it low, so fusion puts it sixth
    dense = [1, 2, 3, 4, 5, 9]
    lexical = [9, 2, 1, 3, 4, 5]
    fused = reciprocal_rank_fusion([dense, lexical], k=1)

    # when
    kept = keep_each_methods_best_near_top(fused, [dense[0], lexical[0]])

    # then
    order = [chunk_id for chunk_id, _ in kept]
    assert order[:3] == [1, 2, 9]
    assert sorted(order) == sorted(chunk_id for chunk_id, _ in fused)
    scores = [score for _, score in kept]
    assert scores == sorted(scores, reverse=True)


def test_bests_already_near_the_top_leave_the_fused_order():
    fused = reciprocal_rank_fusion([[1, 2, 3, 4], [2, 1, 4, 3]])

    assert keep_each_methods_best_near_top(fused, [1, 2]) == fused


def test_two_sunk_bests_take_the_second_and_third_places():
    fused = [(10, 0.5), (11, 0.4), (12, 0.3), (13, 0.2), (7, 0.1), (8, 0.05)]

    kept = keep_each_methods_best_near_top(fused, [7, 8])

    assert [chunk_id for chunk_id, _ in kept] == [10, 7, 8, 11, 12, 13]
