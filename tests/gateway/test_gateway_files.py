"""Files through the gateway: a client-streaming upload as JSON lines, a streamed download."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx

CONTENT = b"hello from the gateway\n" * 100


def _upload_body(content: bytes, chunk_size: int) -> str:
    """UploadFileRequest messages, one JSON object per line: the metadata, then base64 chunks."""
    messages = [
        {
            "metadata": {
                "filename": "notes.txt",
                "contentType": "text/plain",
                "purpose": "PURPOSE_ASSISTANTS",
                "sizeBytes": str(len(content)),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        }
    ]
    for start in range(0, len(content), chunk_size):
        messages.append({"chunk": base64.b64encode(content[start : start + chunk_size]).decode()})
    return "".join(json.dumps(message) + "\n" for message in messages)


def test_upload_as_json_lines_then_download_as_a_stream(rest: httpx.Client) -> None:
    uploaded = rest.post("/v1/files:upload", content=_upload_body(CONTENT, chunk_size=500))
    assert uploaded.status_code == 200, uploaded.text
    file = uploaded.json()
    assert file["sizeBytes"] == str(len(CONTENT)) and file["filename"] == "notes.txt"

    assert rest.get(f"/v1/{file['name']}").json()["sha256"] == hashlib.sha256(CONTENT).hexdigest()

    # `files/{id}:download` reaches DownloadFile, not GetFile: the first message is the file, then chunks.
    with rest.stream("GET", f"/v1/{file['name']}:download") as response:
        assert response.status_code == 200
        messages = [json.loads(line)["result"] for line in response.iter_lines() if line]
    assert messages[0]["file"]["name"] == file["name"]
    assert b"".join(base64.b64decode(message["chunk"]) for message in messages[1:]) == CONTENT


def test_an_upload_that_does_not_match_its_checksum_is_400(rest: httpx.Client) -> None:
    body = _upload_body(CONTENT, chunk_size=1000).replace(hashlib.sha256(CONTENT).hexdigest(), "0" * 64)
    response = rest.post("/v1/files:upload", content=body)
    assert response.status_code == 400
    reasons = [d.get("reason") for d in response.json()["details"] if d["@type"].endswith("ErrorInfo")]
    assert reasons == ["CHECKSUM_MISMATCH"]
