"""The installed distribution: one import name (``swelm``), its console scripts, bundled data
found through importlib.resources, and nothing a user's own ``model.py`` can shadow."""
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                "*.so", ".built", "data", "out", "runs", ".pytest_cache",
                                ".hypothesis")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with the wheel installed (without dependencies: they come
    from this environment's site-packages, whose editable install of swelm is not loaded)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(tmp / "dist"), str(src)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{r.stdout}\n{r.stderr}")
    wheel = next((tmp / "dist").glob("swelm-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = pathlib.Path(subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    before_site, before_bin = set(os.listdir(site)), set(os.listdir(venv / "bin"))
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=300)
    added_site = set(os.listdir(site)) - before_site
    added_bin = set(os.listdir(venv / "bin")) - before_bin
    (site / "zz-swelm-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv, added_site, added_bin


def test_only_swelm_is_installed(installed):
    venv, added_site, added_bin = installed
    assert added_site - {"__pycache__"} == {"swelm", next(iter(
        n for n in added_site if n.endswith(".dist-info")))}
    assert added_bin == {"swelm", "encode_swe"}
    pkg = next(venv.glob("lib/python*/site-packages/swelm"))
    assert sorted(p.name for p in pkg.iterdir() if p.is_dir() and p.name != "__pycache__") == [
        "corpus_tools", "model", "pipelines", "tokenizer"]
    assert list((pkg / "tokenizer").glob("_swe*.so")), "the compiled core is in the wheel"


def test_a_users_model_py_shadows_nothing(installed, tmp_path):
    venv = installed[0]
    work = tmp_path / "project"
    work.mkdir()
    for name in ("model", "tokenizer", "pipelines", "corpus_tools"):
        (work / f"{name}.py").write_text(f"raise SystemExit('the user\\'s {name}.py was imported')\n")
    code = ("import swelm, swelm.model, swelm.pipelines, swelm.corpus_tools\n"
            "from swelm.model import LM\n"
            "from swelm.tokenizer import SWEEncoder\n"
            "from swelm.tokenizer import encoder\n"
            "e = SWEEncoder.load()\n"
            "print(swelm.__version__, len(e), e.uses_c, encoder.bundled_path('emoji.json'))\n"
            "print(e.decode(e.encode('吾輩は猫である。')))\n")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=work, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    version, size, uses_c, emoji = first.split()
    import swelm
    assert version == swelm.__version__ and int(size) == 36000 and uses_c == "True"
    assert "/site-packages/swelm/tokenizer/data/" in emoji      # importlib.resources
    assert second == "吾輩は猫である。"
    for argv in (["swelm", "--version"], ["encode_swe", "--help"], ["swelm", "train", "--help"]):
        r = subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=work,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (argv, r.stderr)
