"""``kade plugin new NAME``: a platform plugin package that installs and passes the kit as generated.

The template (``template/``) is a small but complete plugin — client on ``kade.httpkit``,
mapping, a strict simulator, a harness with every kit control, the conformance test and the
entry points — for a made-up "Acme" API. Generating renames it; the author then replaces the
fake API with the real one, keeping the kit green along the way. The repository's tests
generate it, install it and run the kit on it, so the starting point can never rot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kade.errors import UserError

TEMPLATE = Path(__file__).parent / "template"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True)
class Names:
    """How the platform's name is spelled in each place of the template."""

    name: str

    @property
    def title(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    def apply(self, text: str) -> str:
        return text.replace("ACME", self.name.upper()).replace("Acme", self.title).replace("acme", self.name)


def template_files() -> list[Path]:
    return sorted(p for p in TEMPLATE.rglob("*.tmpl") if p.is_file())


def new_plugin(name: str, dest: Path, *, taken: set[str] | frozenset[str] = frozenset()) -> list[Path]:
    """Write the package for platform ``name`` into ``dest`` (which must not exist or be empty).

    :param taken: platform names already installed; a new plugin may not claim one.
    :return: the files written.
    """
    name = name.strip().lower().replace("-", "_")
    if not _NAME.match(name):
        raise UserError(f"platform name {name!r} is not valid: use 2-32 lowercase letters, digits or underscores, "
                        "starting with a letter")
    if name in taken:
        raise UserError(f"a platform called {name!r} is already installed; choose another name")
    if dest.exists() and any(dest.iterdir()):
        raise UserError(f"{dest} already exists and is not empty")
    names = Names(name)
    written = []
    for source in template_files():
        relative = names.apply(str(source.relative_to(TEMPLATE)).removesuffix(".tmpl"))
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(names.apply(source.read_text(encoding="utf-8")), encoding="utf-8")
        written.append(target)
    return written
