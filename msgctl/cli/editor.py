"""A message opened in the user's editor ($VISUAL, $EDITOR, else vi) as its envelope JSON."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from msgctl.core.transform import TransformError
from msgctl.envelope import Envelope
from msgctl.errors import UsageError


def edit_in_editor(envelope: Envelope) -> Envelope | None:
    """The envelope as saved in the editor; None when the file is saved unchanged or emptied. Raises
    TransformError (the message stays where it is) when the editor fails or the file is no envelope."""
    text = json.dumps(envelope.to_json(), indent=2, ensure_ascii=False) + "\n"
    editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    with tempfile.TemporaryDirectory(prefix="msgctl-edit-") as directory:
        path = Path(directory) / f"{envelope.id or 'message'}.json"
        path.write_text(text, encoding="utf-8")
        try:
            code = subprocess.run([*editor, str(path)], check=False).returncode
        except OSError as exc:
            raise TransformError(f"cannot run the editor {editor[0]!r}: {exc.strerror}") from None
        if code != 0:
            raise TransformError(f"the editor exited {code}: nothing sent")
        try:
            saved = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise TransformError("the saved file is not UTF-8: nothing sent") from None
    if not saved.strip():
        return None
    try:
        document = json.loads(saved)
    except json.JSONDecodeError as exc:
        raise TransformError(f"the saved file is not JSON ({exc.msg}, line {exc.lineno})") from None
    if document == json.loads(text):  # only its layout changed
        return None
    try:
        return Envelope.from_json(document)
    except UsageError as exc:
        raise TransformError(f"the saved file is not an envelope: {exc.message}") from None
