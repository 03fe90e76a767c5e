"""The answer written without a model quotes sentences and shows where it skipped."""

from llm.extractive import best_sentences


def test_sentences_apart_in_the_passage_are_quoted_with_an_ellipsis():
    passage = (
        "Solid green LED: the router is online. Solid amber LED: no internet "
        "signal on the WAN port. Restart the router and wait two minutes. "
        "If the LED is still solid red afterwards, the router is faulty."
    )

    quote = best_sentences(passage, {"solid", "led", "router"})

    assert quote == (
        "Solid green LED: the router is online. Solid amber LED: no internet "
        "signal on the WAN port. … If the LED is still solid red afterwards, "
        "the router is faulty."
    )


def test_neighbouring_sentences_are_quoted_as_they_stand():
    passage = "Badges are renewed in May. Bring your old badge. Parking is free."

    quote = best_sentences(passage, {"badges", "badge", "renewed", "old"})

    assert quote == "Badges are renewed in May. Bring your old badge."
