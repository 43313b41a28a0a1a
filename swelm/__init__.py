"""swelm: Japanese corpus building (Apache Beam), the SWE tokenizer, and Switch-Transformer LMs.

One import name with four parts::

    swelm.corpus_tools   per-document building blocks (no Beam, no torch)
    swelm.tokenizer      SWE vocabularies, encoder/decoder, token shard format, encode_swe
    swelm.pipelines      Apache Beam pipelines (crawl, build-corpus, encode, pipeline)
    swelm.model          PyTorch models, trainer, generation and LM tools

and one command line, ``swelm`` (:mod:`swelm.cli`).
"""
__version__ = "0.2.0"

from .errors import SwelmError  # noqa: E402

__all__ = ["SwelmError", "__version__"]
