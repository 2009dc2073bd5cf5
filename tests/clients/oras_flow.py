"""Drives the registry with the ORAS Python SDK: push with a custom config media type, pull,
tags, an artifact with artifactType attached to a manifest as a referrer, found through the
referrers API. Usage: oras_flow.py HOST:PORT WORKDIR. With ORAS_USER and ORAS_PASSWORD set it
logs in first and works in namespace ORAS_NAMESPACE (default acme). Exits non-zero on the first
failure."""
import hashlib
import json
import os
import sys

import oras.client
import oras.oci
import requests

host, work = sys.argv[1], sys.argv[2]
os.chdir(work)
client = oras.client.OrasClient(hostname=host, insecure=True)
ns = os.environ.get("ORAS_NAMESPACE", "acme")
auth = None
if os.environ.get("ORAS_USER"):
    auth = (os.environ["ORAS_USER"], os.environ["ORAS_PASSWORD"])
    client.auth.set_basic_auth(auth[0], auth[1])  # the token backend: follows the Bearer challenge
target = f"{host}/{ns}/artifact:v1"

with open("notes.txt", "w") as f:
    f.write("hello from oras\n")
with open("config.json", "w") as f:
    json.dump({"kind": "custom"}, f)

response = client.push(
    files=["notes.txt"],
    target=target,
    manifest_config="config.json:application/vnd.acme.config.v1+json",
    disable_path_validation=True,
)
assert response.status_code == 201, response.status_code
subject_digest = response.headers["Docker-Content-Digest"]

manifest = client.get_manifest(target)
assert manifest["config"]["mediaType"] == "application/vnd.acme.config.v1+json", manifest
assert manifest["layers"][0]["annotations"]["org.opencontainers.image.title"] == "notes.txt"

os.makedirs("pulled", exist_ok=True)
files = client.pull(target=target, outdir="pulled")
assert any(p.endswith("notes.txt") for p in files), files
with open(os.path.join("pulled", "notes.txt")) as f:
    assert f.read() == "hello from oras\n"

client.push(files=["notes.txt"], target=f"{host}/{ns}/artifact:v2", disable_path_validation=True)
tags = client.get_tags(f"{host}/{ns}/artifact")
assert tags == ["v1", "v2"], tags

# A signature-like artifact: artifactType, empty config, subject = the first manifest.
container = client.get_container(f"{host}/{ns}/artifact")
with open("sig.bin", "wb") as f:
    f.write(b"signature bytes")
layer = oras.oci.NewLayer("sig.bin", media_type="application/vnd.acme.signature.v1", is_dir=False)
assert client.upload_blob("sig.bin", container, layer).status_code in (200, 201, 202)
empty = b"{}"
with open("empty.json", "wb") as f:
    f.write(empty)
empty_desc = {"mediaType": "application/vnd.oci.empty.v1+json",
              "digest": "sha256:" + hashlib.sha256(empty).hexdigest(), "size": 2}
assert client.upload_blob("empty.json", container, empty_desc).status_code in (200, 201, 202)
subject_manifest = requests.get(f"http://{host}/v2/{ns}/artifact/manifests/{subject_digest}", auth=auth,
                                headers={"Accept": oras.defaults.default_manifest_media_type}).content
referrer = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "artifactType": "application/vnd.acme.signature.v1",
    "config": empty_desc,
    "layers": [layer],
    "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": subject_digest, "size": len(subject_manifest)},
}
response = client.upload_manifest(referrer, container)
assert response.status_code == 201, response.text
assert response.headers.get("OCI-Subject") == subject_digest, dict(response.headers)

index = requests.get(f"http://{host}/v2/{ns}/artifact/referrers/{subject_digest}", auth=auth).json()
types = [m["artifactType"] for m in index["manifests"]]
assert types == ["application/vnd.acme.signature.v1"], index
filtered = requests.get(f"http://{host}/v2/{ns}/artifact/referrers/{subject_digest}", auth=auth,
                        params={"artifactType": "application/other"})
assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
assert filtered.json()["manifests"] == []
print("oras flow ok")
