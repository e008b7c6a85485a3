"""The README's Python examples run as written (the quickstart block, and the doctest of the article example)."""

import doctest
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_runs():
    scripts = [block for block in python_blocks() if ">>>" not in block]
    assert scripts, "README has no quickstart block"
    for script in scripts:
        exec(compile(script, str(README), "exec"), {})


def test_doctest_examples_hold():
    examples = [block for block in python_blocks() if ">>>" in block]
    assert examples
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner()
    for block in examples:
        runner.run(parser.get_doctest(block, {}, "README", str(README), 0))
    assert runner.summarize(verbose=False).failed == 0
