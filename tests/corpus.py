"""Where the shared test corpora live: $CORPUS_DIR, else ../shared/corpus beside the repo."""

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("CORPUS_DIR") or REPO_DIR.parent / "shared" / "corpus")
