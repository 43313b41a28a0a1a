"""SWE tokenizer: the Japanese subword encoder with variant handling and byte fallback.

No Beam and no torch here (see docs/DESIGN.md).
"""
from .encoder import SWEEncoder
from .vocab import (SPECIAL_TOKENS, EmojiTable, Vocabulary, VocabularyError, load_emoji,
                    load_vocabulary)

__all__ = ["SWEEncoder", "SPECIAL_TOKENS", "VocabularyError", "Vocabulary", "EmojiTable", "load_vocabulary",
           "load_emoji"]
