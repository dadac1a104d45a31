"""Reads back, with Google's own Python client (google-cloud-run, REST
transport over plain http), a judge's baseline on the fake Cloud Run, as
tests/cli/unattended/baseline.rs asks:

    python3 run_v2_baseline.py ENDPOINT SERVICE_NAME

Prints one JSON object: every revision with its image, and the service's
traffic targets (revision, percent, tag). Any failure raises.
"""

import json
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2


def main() -> None:
    endpoint, name = sys.argv[1:3]
    opts = {"api_endpoint": endpoint}
    services = run_v2.ServicesClient(
        transport="rest", client_options=opts, credentials=AnonymousCredentials()
    )
    revisions = run_v2.RevisionsClient(
        transport="rest", client_options=opts, credentials=AnonymousCredentials()
    )
    revs = {
        r.name.rsplit("/", 1)[-1]: r.containers[0].image
        for r in revisions.list_revisions(request=run_v2.ListRevisionsRequest(parent=name))
    }
    svc = services.get_service(name=name)
    print(
        json.dumps(
            {
                "revisions": revs,
                "traffic": [(t.revision, t.percent, t.tag) for t in svc.traffic],
            }
        )
    )


if __name__ == "__main__":
    main()
