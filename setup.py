"""Build step that packs the repository's prompts/ into the wheel; all other metadata is in pyproject.toml.

prompts/ at the top of the repository is the one place editors change the templates. It lies outside the
package, so `build_py` copies prompts/*.txt into the built package as hubchat/prompts/, where an installed
hubchat finds them (hubchat.generation.prompts.default_prompts_dir). Nothing is copied into the source tree:
a checkout or an editable install reads prompts/ itself.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import FileError

PROMPTS = Path(__file__).resolve().parent / "prompts"


class BuildPyWithPrompts(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads prompts/ from the checkout
            return
        templates = sorted(PROMPTS.glob("*.txt"))
        if not templates:
            raise FileError(f"no prompt templates in {PROMPTS}: the package cannot answer without them")
        target = Path(self.build_lib, "hubchat", "prompts")
        shutil.rmtree(target, ignore_errors=True)  # a template deleted from prompts/ must not linger in build/
        self.mkpath(str(target))
        for template in templates:
            self.copy_file(str(template), str(target / template.name))


setup(cmdclass={"build_py": BuildPyWithPrompts})
