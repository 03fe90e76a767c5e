# The knowledge fixtures, for tests of what uploads and chats record.
from tests.rag.conftest import hr_document, hr_knowledge_base  # noqa: F401
