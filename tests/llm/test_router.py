"""Light or heavy: the router's decisions and the reasons it records."""

import pytest

from llm.router import RouteRequest, Task, route


def answer(question, similarity=0.7, documents=1, prompt_tokens=800):  # type: ignore[no-untyped-def]
    return route(
        RouteRequest(
            task=Task.ANSWER,
            prompt_tokens=prompt_tokens,
            question=question,
            retrieval_similarity=similarity,
            documents=documents,
        )
    )


@pytest.mark.parametrize(
    "question",
    [
        "What was the company's gross margin in the latest quarter?",
        "How much does the trail tent cost?",
        "Which plan covers acupuncture?",
        "When does the open enrolment period end?",
    ],
)
def test_short_closed_questions_with_a_strong_match_go_light(question):
    decision = answer(question)
    assert decision.tier == "light"
    assert "closed question" in decision.reason


@pytest.mark.parametrize(
    "question",
    [
        "How has revenue changed over the last four quarters?",
        "Compare the deductibles of the two plans.",
        "Are there notable changes in liquidity across these filings?",
        "How does the legal section relate to the reserves in the statements?",
        "Which tent is the most waterproof?",
        "List the impact of exchange rates separately for each reported period.",
    ],
)
def test_synthesis_across_sources_or_periods_goes_heavy(question):
    assert answer(question).tier == "heavy"


@pytest.mark.parametrize(
    "question",
    [
        "What are the steps to appeal a denied claim?",
        "How does prior authorisation affect my coinsurance?",
        "Why did operating income fall?",
        "What legal proceedings were disclosed, and how could they affect the company?",
    ],
)
def test_open_questions_go_heavy(question):
    assert answer(question).tier == "heavy"


def test_a_weak_match_goes_heavy_with_the_similarity_in_the_reason():
    decision = answer("What was the gross margin?", similarity=0.3)
    assert decision.tier == "heavy"
    assert "0.30" in decision.reason


def test_a_long_prompt_goes_heavy_whatever_the_task():
    decision = route(RouteRequest(task=Task.TITLE, prompt_tokens=9000))
    assert decision.tier == "heavy"


@pytest.mark.parametrize("task", [Task.TITLE, Task.CLASSIFY])
def test_titles_and_classifications_go_light(task):
    assert route(RouteRequest(task=task, prompt_tokens=60)).tier == "light"


def test_summaries_depend_on_how_much_text():
    short = route(RouteRequest(task=Task.SUMMARY, prompt_tokens=400))
    long = route(RouteRequest(task=Task.SUMMARY, prompt_tokens=4000))
    assert (short.tier, long.tier) == ("light", "heavy")


def test_a_question_naming_its_document_counts_as_a_strong_match():
    # given: the product name was taken out of the searched text, so the
    # similarity of its spec line is low although the right sheet was searched
    request = RouteRequest(
        task=Task.ANSWER,
        prompt_tokens=700,
        question="What is the material of the TrailBlaze pants?",
        retrieval_similarity=0.15,
        documents=1,
        names_its_source=True,
    )

    # when
    decision = route(request)

    # then
    assert decision.tier == "light"
    assert "names" in decision.reason
