"""Apache Beam pipelines and the ``swelm`` command line.  The only package that imports Beam;
pipelines only wire together functions from ``corpus_tools`` and ``tokenizer``."""
