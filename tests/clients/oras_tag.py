"""Tags an existing manifest under a new tag with the ORAS Python SDK, as `oras tag` does: the
manifest is fetched and pushed again under the new reference (the SDK re-serialises it, so the
bytes, and the digest, may differ from the original). Usage: oras_tag.py HOST:PORT REPOSITORY
TAG NEW_TAG. Prints the new manifest's digest."""
import sys

import oras.client

host, repository, tag, new_tag = sys.argv[1:5]
client = oras.client.OrasClient(hostname=host, insecure=True)
manifest = client.get_manifest(f"{host}/{repository}:{tag}")
response = client.upload_manifest(manifest, client.get_container(f"{host}/{repository}:{new_tag}"))
assert response.status_code == 201, (response.status_code, response.text)
print(response.headers["Docker-Content-Digest"])
