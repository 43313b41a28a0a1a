"""Build steps that setup.cfg cannot declare: the C core and the bundled data files."""
import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
# The bundled vocabulary lives at vocab/ and emoji.json at the top (see docs/DESIGN.md); an
# installed package carries copies in swelm/tokenizer/data/ (found with importlib.resources).
BUNDLED = [("vocab/ja-swe36k.txt", "ja-swe36k.txt"), ("vocab/variants.tsv", "variants.tsv"),
           ("emoji.json", "emoji.json")]


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "swelm", "tokenizer", "data")
        for src, name in BUNDLED:
            path = os.path.join(HERE, src)
            if os.path.isfile(path):
                os.makedirs(target, exist_ok=True)
                shutil.copyfile(path, os.path.join(target, name))


setup(
    ext_modules=[Extension("swelm.tokenizer._swe", ["tokenizer/_swe.c"],
                           extra_compile_args=["-O3"], optional=True)],
    cmdclass={"build_py": BuildPyWithData},
)
