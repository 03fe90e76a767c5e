"""A model's [n] markers that name no passage are dropped as the answer streams."""

import pytest

from llm.grounded import CitationMarkers


def streamed(deltas: list[str], passages: int = 2) -> str:
    markers = CitationMarkers(passages)
    return "".join(markers.feed(delta) for delta in deltas) + markers.flush()


@pytest.mark.parametrize(
    ("deltas", "answer"),
    [
        (["You get 25 days [1], see also [7]."], "You get 25 days [1], see also."),
        (["see also ", "[7]."], "see also."),
        (["see also [", "7", "]. Next"], "see also. Next"),
        (["one [2] and [3] two"], "one [2] and two"),
        (["ends with a space "], "ends with a space "),
        (["a list:\n\n", "[1] first"], "a list:\n\n[1] first"),
        (["[5] dropped at the start"], " dropped at the start"),
    ],
)
def test_unknown_markers_go_with_the_space_before_them(deltas, answer):
    assert streamed(deltas) == answer
