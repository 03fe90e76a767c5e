"""A document named by coincidence does not take over a question's search."""

import uuid

from django_tenants.utils import schema_context

from rag.retrieval import search_knowledge
from tests.rag.conftest import create_knowledge_base, text_file, uploaded_documents

ESCALATION = (
    "Escalation procedure. Out of hours, P1 incidents go to the on-call "
    "engineer: call extension 4477. The on-call engineer answers within fifteen "
    "minutes, day or night, weekends included."
)
CLEANING = (
    "# Out-of-hours cleaning schedule\n\n"
    "The cleaning contractor works Monday to Friday from 19:00 to 23:00. "
    "Floors 1-3 on Monday and Wednesday, floors 4-6 on Tuesday and Thursday."
)


def test_a_file_name_sharing_two_words_with_the_question_does_not_capture_it(
    hr, client_for
):
    # given: the answer, and a schedule whose file name holds "out" and "hours"
    admin = client_for(hr, "hr_admin")
    knowledge_base = create_knowledge_base(admin, hr, "Operations")
    uploaded_documents(
        admin,
        hr,
        knowledge_base,
        [
            text_file("escalation-procedure.txt", ESCALATION),
            text_file("out-of-hours-cleaning-schedule.md", CLEANING),
        ],
    )

    # when: the schedule is about as close to the whole question as the
    # answer is, but nothing in it answers once "out of hours" is set aside
    with schema_context(hr.schema_name):
        found = [
            search_knowledge(
                hr, question, knowledge_base_ids=[uuid.UUID(knowledge_base)]
            )
            for question in (
                "Who is the on-call engineer to phone out of hours?",
                "Who do I call out of hours?",
            )
        ]

    # then: the search covers both documents
    for outcome in found:
        assert not outcome.not_found
        assert "escalation-procedure.txt" in [c.filename for c in outcome.chunks]
        assert not outcome.plan.named
