"""The three images install the hourcast package and their own service folder, nothing else.

No tests, fixtures, fakes or dev tools (``devtools/``), no dev requirements, and no package
outside the image's hash-pinned requirements file.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from tests.infra.conftest import ROOT
from tests.infra.tfcheck import SERVICE_DOCKERFILES, Dockerfile

PACKAGE = "hourcast"
PACKAGE_FILES = frozenset({"pyproject.toml", "README.md", "LICENSE"})
FORBIDDEN_PARTS = re.compile(r"(?i)(^|/)(tests?|fixtures?|devtools|conftest\.py|.*fake.*)(/|$)")
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==", re.MULTILINE)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dev_only_packages(pipfile: Path = ROOT / "Pipfile") -> set[str]:
    """Packages declared only in ``[dev-packages]`` that no runtime category of the lock pins.

    A dev tool may also be a runtime dependency of a service (mage-ai needs ipykernel and
    nbformat, which the notebook tests declare too): the lock says which.
    """
    lock = json.loads((pipfile.parent / "Pipfile.lock").read_text(encoding="utf-8"))
    resolved_at_runtime = {
        _normalise(name)
        for category, packages in lock.items()
        if category not in ("_meta", "develop")
        for name in packages
    }
    return _declared_dev_only(pipfile) - resolved_at_runtime


def _declared_dev_only(pipfile: Path) -> set[str]:
    sections = tomllib.loads(pipfile.read_text(encoding="utf-8"))
    runtime = {
        _normalise(name)
        for section, packages in sections.items()
        if section not in ("dev-packages", "source", "pipenv", "requires")
        and isinstance(packages, dict)
        for name in packages
    }
    return {_normalise(name) for name in sections["dev-packages"]} - runtime


def _allowed_source(source: str, service_folder: str) -> bool:
    path = PurePosixPath(source.rstrip("/"))
    return (
        str(path) in PACKAGE_FILES
        or path.parts[:1] == (PACKAGE,)
        or path.parts[:1] == (service_folder,)
        or (path.parent == PurePosixPath("requirements") and path.suffix == ".txt")
    )


def image_problems(dockerfile_path: Path, context: Path) -> list[str]:
    """What an image would install beyond the package, its folder and its lock."""
    dockerfile = Dockerfile.read(dockerfile_path)
    service_folder = dockerfile_path.parent.relative_to(context).as_posix()
    dev_only = dev_only_packages()
    problems = []
    package_folders: set[PurePosixPath] = set()
    requirement_files: set[PurePosixPath] = set()
    for copy in dockerfile.copies:
        line = copy.instruction.line
        for source, target in zip(copy.sources, copy.targets, strict=True):
            if FORBIDDEN_PARTS.search(source) or not _allowed_source(source, service_folder):
                problems.append(
                    f"line {line}: COPY {source} is not the package or {service_folder}"
                )
            if source in ("requirements/dev.txt", "Pipfile", "Pipfile.lock"):
                problems.append(f"line {line}: COPY {source} brings the dev requirements")
            if source.startswith("requirements/"):
                requirement_files.add(target)
                names = _REQUIREMENT.findall((context / source).read_text(encoding="utf-8"))
                for name in sorted({_normalise(name) for name in names} & dev_only):
                    problems.append(f"line {line}: {source} pins dev package {name}")
            if source.rstrip("/") in (PACKAGE, "pyproject.toml"):
                package_folders.add(target.parent)
        for source in copy.sources:
            problems.extend(f"line {line}: {found}" for found in _forbidden_inside(context, source))
    for instruction in dockerfile.instructions:
        if instruction.keyword == "RUN":
            problems.extend(
                f"line {instruction.line}: {problem}"
                for problem in _pip_problems(
                    instruction.arguments, package_folders, requirement_files
                )
            )
    return problems


def _forbidden_inside(context: Path, source: str) -> list[str]:
    """Test files, fixtures or fakes inside a copied folder."""
    folder = context / source
    if not folder.is_dir():
        return []
    return [
        f"COPY {source} brings {path.relative_to(context)}"
        for path in sorted(folder.rglob("*"))
        if "__pycache__" not in path.parts
        and FORBIDDEN_PARTS.search(path.relative_to(folder).as_posix())
    ]


def _pip_problems(
    command: str, package_folders: set[PurePosixPath], requirement_files: set[PurePosixPath]
) -> list[str]:
    """pip install arguments that are neither a copied lock file nor the copied package."""
    problems = []
    for part in re.split(r"&&|\|\||;|\|", command):
        words = shlex.split(part)
        if "pip" not in " ".join(words[:4]) or "install" not in words:
            continue
        arguments = iter(words[words.index("install") + 1 :])
        for word in arguments:
            if word in ("-r", "--requirement", "-c", "--constraint"):
                file = PurePosixPath(next(arguments, ""))
                if file not in requirement_files:
                    problems.append(f"pip installs from {file}, which is no copied lock file")
            elif word.startswith("-"):
                continue
            elif PurePosixPath(word) not in package_folders:
                problems.append(f"pip installs {word}, not the copied hourcast package")
    return problems


@pytest.mark.parametrize("service", sorted(SERVICE_DOCKERFILES))
def test_images_install_only_the_package_their_folder_and_their_lock(service: str) -> None:
    dockerfile = ROOT / SERVICE_DOCKERFILES[service]
    assert Dockerfile.read(dockerfile).copies  # the parse found the COPY lines
    assert image_problems(dockerfile, ROOT) == []


def test_dev_only_packages_come_from_the_pipfile() -> None:
    assert {"pytest", "moto", "ruff"} <= dev_only_packages()
    assert "mlflow" not in dev_only_packages()  # also the tracking server's


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("COPY tests /app/tests", "COPY tests is not the package"),
        ("COPY tests/fixtures/openaq /app/data", "COPY tests/fixtures/openaq is not the package"),
        ("COPY devtools /tmp/devtools", "COPY devtools is not the package"),
        ("COPY requirements/dev.txt /tmp/dev.txt", "brings the dev requirements"),
        ("COPY . /app", "COPY . is not the package"),
        ("RUN pip install --no-cache-dir pytest", "pip installs pytest"),
        ("RUN pip install -r /tmp/other.txt", "pip installs from /tmp/other.txt"),
    ],
)
def test_an_image_that_installs_more_fails(tmp_path: Path, line: str, problem: str) -> None:
    folder = tmp_path / "inference_api"
    folder.mkdir()
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "dev.txt").write_text("pytest==9.2.0 \\\n")
    (tmp_path / "requirements" / "api.txt").write_text("fastapi==0.128.1 \\\n")
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11-slim\n"
        "COPY requirements/api.txt /tmp/requirements.txt\n"
        "RUN pip install --no-cache-dir -r /tmp/requirements.txt\n"
        f"{line}\n"
    )
    found = image_problems(dockerfile, tmp_path)
    assert len(found) >= 1
    assert all("line 4" in text for text in found), found
    assert any(problem in text for text in found), found


def test_a_lock_file_that_pins_a_dev_package_fails(tmp_path: Path) -> None:
    folder = tmp_path / "inference_api"
    folder.mkdir()
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "api.txt").write_text("fastapi==0.128.1 \\\nmoto[server]==5.2.5\n")
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nCOPY requirements/api.txt /tmp/r.txt\n")
    assert image_problems(dockerfile, tmp_path) == [
        "line 2: requirements/api.txt pins dev package moto"
    ]


def test_a_fake_inside_the_copied_package_fails(tmp_path: Path) -> None:
    (tmp_path / "hourcast" / "sources").mkdir(parents=True)
    (tmp_path / "hourcast" / "sources" / "openaq_fake.py").write_text("")
    (tmp_path / "orchestration").mkdir()
    dockerfile = tmp_path / "orchestration" / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nCOPY hourcast /tmp/hourcast/hourcast\n")
    assert image_problems(dockerfile, tmp_path) == [
        "line 2: COPY hourcast brings hourcast/sources/openaq_fake.py"
    ]
