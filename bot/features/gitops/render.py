"""Rendering a desired version into the file a GitOps engine reads, and checking it is there.

People keep their own things in these files (patches, replicas, resource limits, comments), so a
render changes one value and keeps everything else: ruamel.yaml reads and writes the file round
trip, comments and order included, and the file's own indentation is kept. A file that does not
read as YAML is not guessed at: the deploy is refused, naming the file.

Everything here is pure: it reads other files through `read` (the snapshot a handler has) and
returns text, so a handler can call it.
"""

import io
import posixpath
import re
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from bot.core.errors import InvalidRecord
from bot.features.gitops.declaration import GitOps

Read = Callable[[str], str | None]

TAG = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
"""What a container registry accepts as a tag: a version with a '+' is not one."""

HEADER = (
    "Rendered by opsbot from deployments/{env}/{app}.toml for a GitOps engine.\n"
    "opsbot sets {what} on every deploy;\n"
    "everything else here is yours to edit, and is kept."
)


def render(decl: GitOps, app: str, env: str, version: str, read: Read) -> dict[str, str]:
    """The file(s) to write so that the engine runs `version` of `app` in `env`."""
    path = decl.path(env, app)
    if not TAG.fullmatch(version):
        raise InvalidRecord(
            f"apps/{app}.toml",
            "gitops",
            f"{version!r} cannot be an image tag (letters, digits, "
            "'.', '-' and '_' only): deploy a version without '+'",
        )
    previous = read(path)
    if decl.engine == "kustomize":
        doc, yaml = _load(path, previous, lambda: _new_overlay(decl, app, env, path))
        _set_image(path, doc, decl, version)
    else:
        doc, yaml = _load(path, previous, lambda: _new_values(decl, app, env))
        _set(path, doc, decl.tag_key, version)
        if decl.image is not None:
            _set(path, doc, decl.repository_key, decl.image)
    out = io.StringIO()
    yaml.dump(doc, out)
    return {path: out.getvalue()}


def disagreements(
    decl: GitOps, app: str, env: str, version: str, read: Read
) -> list[InvalidRecord]:
    """How the rendered file of `app` in `env` disagrees with `version` (the desired one);
    [] when it says the same. A hand edit that changed the tag is one of these."""
    path = decl.path(env, app)
    wanted = f"deployments/{env}/{app}.toml wants {version}"
    text = read(path)
    if text is None:
        return [InvalidRecord(path, None, f"missing, but {wanted}; the next deploy writes it")]
    try:
        doc, _ = _load(path, text, CommentedMap)
    except InvalidRecord as e:
        return [e]
    found = []
    if decl.engine == "kustomize":
        assert decl.image is not None
        entry = _image_entry(path, doc, decl.image, create=False)
        tag = None if entry is None else entry.get("newTag")
        if entry is None:
            found.append(InvalidRecord(path, "images", f"no entry for {decl.image}, but {wanted}"))
        elif str(tag) != version:
            found.append(
                InvalidRecord(path, "images", f"newTag of {decl.image} is {tag!r}, but {wanted}")
            )
    else:
        checks = [(decl.tag_key, version, wanted)]
        if decl.image is not None:
            declared = f"apps/{app}.toml declares image {decl.image}"
            checks.append((decl.repository_key, decl.image, declared))
        for key, value, why in checks:
            have = _get(doc, key)
            if have is None or str(have) != value:
                found.append(InvalidRecord(path, key, f"is {have!r}, but {why}"))
    return found


# reading and writing YAML, round trip


def _load(path: str, text: str | None, new: Callable[[], CommentedMap]) -> tuple[Any, YAML]:
    yaml = YAML()  # round trip: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a person's long line
    if text is None:
        yaml.indent(mapping=2, sequence=2, offset=0)
        return new(), yaml
    try:
        doc = yaml.load(text)
    except YAMLError as e:
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InvalidRecord(path, None, f"not valid YAML ({problem})") from None
    if not isinstance(doc, CommentedMap):
        raise InvalidRecord(path, None, "must be a YAML mapping of keys to values")
    mapping, offset = _indents(text)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return doc, yaml


def _indents(text: str) -> tuple[int, int]:
    """How far this file indents a mapping inside a mapping, and a sequence's dash under its key
    (`images:` then `- name` or `  - name`): kept when the file is written again. A file may
    indent the two differently; 2 and 0 when it shows neither."""
    mappings, dashes = [], []
    opener: int | None = None
    for line in text.splitlines():
        content = line.strip()
        if not content or content.startswith("#"):
            continue
        depth = len(line) - len(line.lstrip(" "))
        if opener is not None and depth >= opener:
            if content.startswith("- "):
                dashes.append(depth - opener)
            elif depth > opener:
                mappings.append(depth - opener)
        opener = depth if content.endswith(":") and not content.startswith("-") else None
    return min(mappings, default=2), min(dashes, default=0)


def _new_overlay(decl: GitOps, app: str, env: str, path: str) -> CommentedMap:
    assert decl.base is not None
    doc = CommentedMap()
    doc["apiVersion"] = "kustomize.config.k8s.io/v1beta1"
    doc["kind"] = "Kustomization"
    doc["resources"] = CommentedSeq([posixpath.relpath(decl.base, posixpath.dirname(path))])
    header = HEADER.format(env=env, app=app, what=f"the newTag of {decl.image}")
    doc.yaml_set_start_comment(header)
    return doc


def _new_values(decl: GitOps, app: str, env: str) -> CommentedMap:
    doc = CommentedMap()
    keys = decl.tag_key if decl.image is None else f"{decl.tag_key} and {decl.repository_key}"
    doc.yaml_set_start_comment(HEADER.format(env=env, app=app, what=keys))
    return doc


def _set_image(path: str, doc: CommentedMap, decl: GitOps, version: str) -> None:
    assert decl.image is not None
    entry = _image_entry(path, doc, decl.image, create=True)
    assert entry is not None
    entry["newTag"] = version


def _image_entry(path: str, doc: CommentedMap, image: str, *, create: bool) -> Any:
    images = doc.get("images")
    if images is None:
        if not create:
            return None
        images = doc["images"] = CommentedSeq()
    if not isinstance(images, list):
        raise InvalidRecord(path, "images", "must be a list of {name, newTag}")
    for entry in images:
        if isinstance(entry, dict) and entry.get("name") == image:
            return entry
    if not create:
        return None
    entry = CommentedMap()
    entry["name"] = image
    images.append(entry)
    return entry


def _set(path: str, doc: CommentedMap, dotted: str, value: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = doc
    for i, key in enumerate(parents):
        child = node.get(key)
        if child is None:
            child = node[key] = CommentedMap()
        if not isinstance(child, dict):
            where = ".".join(parents[: i + 1])
            raise InvalidRecord(path, where, f"must be a mapping to hold {dotted}")
        node = child
    if node.get(last) != value:  # an unchanged value keeps its quoting
        node[last] = value


def _get(doc: CommentedMap, dotted: str) -> Any:
    node: Any = doc
    for key in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
