"""The documentation holds together: a short README with the two commands CI and the tests run, pages that
start with a summary and link back to it, links that resolve inside the repository, sections cited from
the code that exist, and no committed file that points at files outside the repository."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from infra.api_gateway import load_template
from tests.support.docs import DOCS, README, ROOT, anchors, headings, page, pages, without_code

# [text](target) and ![alt](target), with an optional "title".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# A section cited by name from code, tests or the template: docs/judging.md "Model life cycle".
CITATION = re.compile(r"(docs/[\w-]+\.md|README(?:\.md)?)[,:]?\s+\"([^\"\n]+(?:\n[^\"\n#]+)?)\"")
# Any mention of a file under docs/.
DOCS_PATH = re.compile(r"\bdocs/[\w-]+\.(?:md|png)\b")

# Everything the repository commits that code, docs or the stack read (caches and build output aside).
SCANNED_DIRS = ("shared", "functions", "infra", "tests", "docs", "console", "bench", "events", "examples", ".ci")
SCANNED_FILES = ("README.md", "template.yaml", "Makefile", "pyproject.toml", "samconfig.toml")
SKIPPED_DIRS = {"__pycache__", ".aws-sam", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
# Built from parts so that this file does not name them itself.
OUTSIDE_REFERENCES = ("product" + ".md", ".." + "/shared")


def scanned_files() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES]
    for directory in SCANNED_DIRS:
        for path in sorted((ROOT / directory).rglob("*")):
            if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
                if path.suffix != ".pyc":
                    files.append(path)
    return files


def relative_links(path: Path) -> list[str]:
    targets = LINK.findall(without_code(path.read_text(encoding="utf-8")))
    return [target for target in targets if not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target)]


def test_the_readme_is_short_and_links_every_page():
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150, "the README is a front page: the detail belongs in docs/"
    linked = set(relative_links(README))
    unlinked = [path.name for path in sorted(DOCS.glob("*.md")) if f"docs/{path.name}" not in linked]
    assert not unlinked, f"pages the README does not link: {unlinked}"
    assert len(list(DOCS.glob("*.md"))) >= 8


def test_the_readme_shows_the_review_console_and_a_banner():
    shown = {target for target in relative_links(README) if target.endswith(".png")}
    assert {"docs/review-console.png", "docs/banner-example.png"} <= shown


def test_the_readme_gives_the_two_commands_that_ci_and_the_tests_run():
    blocks = re.findall(r"^```sh\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    assert "make local" in commands and "make local PORT=3100" in commands and "make test" in commands
    # CI runs the README's test command as written, and both are targets of the Makefile.
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make test" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:", makefile, flags=re.M) and re.search(r"^local:", makefile, flags=re.M)
    assert re.search(r"^PORT \?= 3000$", makefile, flags=re.M)


def test_every_page_starts_with_a_summary_that_links_back_to_the_readme():
    for path in sorted(DOCS.glob("*.md")):
        title, summary, *_ = path.read_text(encoding="utf-8").split("\n\n")
        assert re.fullmatch(r"# \S.*", title), f"{path.name}: a page opens with its title"
        assert not summary.startswith(("#", "```", "|", "- ", "!")), f"{path.name}: then a summary paragraph"
        assert len(summary.split()) >= 30, f"{path.name}: the summary says what the page holds"
        assert "](../README.md)" in summary, f"{path.name}: the summary links back to the README"


def test_every_relative_link_resolves_to_a_file_in_the_repository():
    problems = []
    images = set()
    for path in pages():
        for target in relative_links(path):
            file_part, _, fragment = target.partition("#")
            destination = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT)} → {target}"
            if not destination.is_relative_to(ROOT) or not destination.is_file():
                problems.append(f"{where}: no such file in the repository")
                continue
            if destination.suffix == ".png":
                images.add(destination.relative_to(ROOT).as_posix())
            if fragment and destination.suffix == ".md":
                if fragment not in anchors(destination.read_text(encoding="utf-8")):
                    problems.append(f"{where}: no such section")
    assert not problems, "\n".join(problems)
    # The screenshots are shown, from wherever the page that shows them is.
    assert {"docs/review-console.png", "docs/banner-example.png"} <= images


def test_sections_and_pages_cited_from_the_code_exist():
    problems = []
    cited = 0
    for path in scanned_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for mention in DOCS_PATH.findall(text):
            if not (ROOT / mention).is_file():
                problems.append(f"{path.relative_to(ROOT)}: {mention} does not exist")
        for document, section in CITATION.findall(text):
            target = README if document.startswith("README") else ROOT / document
            if not target.is_file():
                continue  # reported above
            section = " ".join(section.split())
            cited += 1
            if not any(heading.startswith(section) for heading in headings(target.read_text(encoding="utf-8"))):
                problems.append(f'{path.relative_to(ROOT)}: {document} has no section "{section}"')
    assert not problems, "\n".join(problems)
    assert cited >= 20  # the code names the pages that state its rules


def test_no_committed_file_refers_to_files_outside_the_repository():
    found = []
    for path in scanned_files():
        content = path.read_bytes()
        found += [f"{path.relative_to(ROOT)}: {needle}" for needle in OUTSIDE_REFERENCES if needle.encode() in content]
    assert not found, "\n".join(found)


def test_the_alarms_the_operations_page_lists_are_the_templates():
    listed = set(re.findall(r"^\| `(\w+Alarm)` \|", page("operations"), flags=re.M))
    resources = load_template()["Resources"]
    alarms = {name for name, resource in resources.items() if resource["Type"] == "AWS::CloudWatch::Alarm"}
    assert listed == alarms


def test_every_curl_in_the_docs_calls_a_route_the_api_serves():
    """Every curl of every page, walk-throughs included, calls a route template.yaml declares (or a page
    `make local` adds), with that route's method: a renamed or removed route cannot stay documented."""
    from infra.api_gateway import routes_from_template

    routes = routes_from_template()
    local_pages = ("/openapi.json", "/docs", "/console/", "/banner-images/")
    called, unknown = 0, []
    for path in pages():
        for block in re.findall(r"^```sh\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M):
            tokens = [token.rstrip(";") for token in shlex.split(block.replace("\\\n", " "), comments=True)]
            starts = [i for i, token in enumerate(tokens) if token == "curl"] + [len(tokens)]
            for start, end in zip(starts, starts[1:], strict=False):
                command = tokens[start:end]
                url = next((t for t in command if t.startswith(("$api/", "http://127.0.0.1:3000/"))), None)
                if url is None:
                    continue  # another server's URL (a token endpoint, the stand-in's clock)
                route = "/" + url.split("/", 3 if url.startswith("http") else 1)[-1].split("?")[0]
                explicit = command[command.index("-X") + 1] if "-X" in command else None
                sends = any(t in ("-d", "--data-binary") for t in command)
                method = explicit or ("POST" if sends else "GET")
                called += 1
                if route.startswith(local_pages) and method == "GET":
                    continue
                if not any(r.method == method and r.pattern.match(route) for r in routes):
                    unknown.append(f"{path.relative_to(ROOT)}: {method} {route}")
    assert not unknown, "\n".join(unknown)
    assert called >= 60
