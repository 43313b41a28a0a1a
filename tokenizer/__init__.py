"""SWE tokenizer: the Japanese subword encoder with variant handling and byte fallback.

No Beam and no torch here (see DESIGN.md).
"""
from .encoder import SWEEncoder
from .vocab import VocabularyError, Vocabulary, EmojiTable, load_vocabulary, load_emoji

__all__ = ["SWEEncoder", "VocabularyError", "Vocabulary", "EmojiTable", "load_vocabulary",
           "load_emoji"]
