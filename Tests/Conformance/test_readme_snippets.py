"""The README's "Using the official SDKs" snippets, run exactly as written: each Python block
after a `<!-- sdk snippet: NAME -->` line, with LESSOR_URL and LESSOR_TOKEN (the admin
token) set as the README tells its reader, against a node with the default settings
(LESSOR_DEFAULTS_URL)."""
import contextlib
import io
import os
import pathlib
import re
import unittest

from lessor_fixture import ADMIN_TOKEN

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
SNIPPET = re.compile(r"<!-- sdk snippet: (\w+) -->\n```python\n(.*?)```", re.S)


class ReadmeSnippets(unittest.TestCase):
    def test_each_snippet_runs_and_prints_what_its_comment_says(self):
        snippets = dict(SNIPPET.findall(README.read_text()))
        self.assertEqual(sorted(snippets), ["anthropic", "qoder"])
        os.environ.update(LESSOR_URL=os.environ["LESSOR_DEFAULTS_URL"], LESSOR_TOKEN=ADMIN_TOKEN)
        for name, code in snippets.items():
            with self.subTest(name):
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed):
                    exec(compile(code, f"README.md ({name} snippet)", "exec"), {})
                promised = re.search(r"print\(.*\)  # (.*)", code).group(1)
                self.assertEqual(printed.getvalue().strip(), promised)


if __name__ == "__main__":
    unittest.main()
