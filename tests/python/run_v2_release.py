"""Reads back, with Google's own Python client (google-cloud-run, REST
transport over plain http), what the cockpit deployed and deleted on the
fake Cloud Run, as tests/python_client.rs asks:

    python3 run_v2_release.py ENDPOINT SERVICE_NAME DEPLOYED DELETED

Lists the revisions, gets the deployed one (image, env names, conditions),
the service's traffic (the deployed revision's tag at 0 %), and asks for the
deleted one (NotFound). Prints one JSON object. Any other failure raises.
"""

import json
import sys

from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2


def main() -> None:
    endpoint, name, deployed, deleted = sys.argv[1:5]
    opts = {"api_endpoint": endpoint}
    services = run_v2.ServicesClient(
        transport="rest", client_options=opts, credentials=AnonymousCredentials()
    )
    revisions = run_v2.RevisionsClient(
        transport="rest", client_options=opts, credentials=AnonymousCredentials()
    )
    names = [
        r.name.rsplit("/", 1)[-1]
        for r in revisions.list_revisions(request=run_v2.ListRevisionsRequest(parent=name))
    ]
    rev = revisions.get_revision(name=f"{name}/revisions/{deployed}")
    ready = [c for c in rev.conditions if c.type_ == "Ready"]
    svc = services.get_service(name=name)
    try:
        revisions.get_revision(name=f"{name}/revisions/{deleted}")
        deleted_found = True
    except exceptions.NotFound:
        deleted_found = False
    print(
        json.dumps(
            {
                "revisions": names,
                "image": rev.containers[0].image,
                "env": [e.name for e in rev.containers[0].env],
                "ready": bool(ready)
                and ready[0].state == run_v2.Condition.State.CONDITION_SUCCEEDED,
                "template_revision": svc.template.revision,
                "traffic": [(t.revision, t.percent, t.tag) for t in svc.traffic],
                "statuses": [(t.revision, t.percent, t.tag, t.uri) for t in svc.traffic_statuses],
                "deleted_found": deleted_found,
            }
        )
    )


if __name__ == "__main__":
    main()
