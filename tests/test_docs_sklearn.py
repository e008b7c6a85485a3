"""docs/sklearn.md's Python examples run as written (each block in a fresh namespace)."""

import re
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

PAGE = Path(__file__).resolve().parents[1] / "docs" / "sklearn.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_page_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index, capsys):
    """Each block runs; where a line's comment states what it prints, that is what it prints."""
    block = BLOCKS[index]
    exec(compile(block, f"{PAGE}:block{index}", "exec"), {"__name__": "docs_sklearn_example"})
    printed = capsys.readouterr().out.splitlines()
    stated = re.findall(r"^print\(.*\)\s+# (-?[0-9.]+)$", block, flags=re.M)
    for value in stated:
        assert value in printed, (value, printed)
