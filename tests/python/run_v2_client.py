"""Drives the fake Cloud Run with Google's own Python client (google-cloud-run,
REST transport over plain http), as tests/backends/python_client.rs asks:

    python3 run_v2_client.py ENDPOINT SERVICE_NAME STABLE CANARY

Gets the service, lists every revision (two per page), moves 10 % to CANARY
(keeping its `canary` tag), waits for the long-running operation, and prints
one JSON object with what it saw. Any failure raises (non-zero exit).
"""

import json
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf import field_mask_pb2


def main() -> None:
    endpoint, name, stable, canary = sys.argv[1:5]
    # An explicit http:// scheme in api_endpoint is kept by the REST transport
    # (its url_scheme default, https, only applies to a bare host).
    opts = {"api_endpoint": endpoint}
    services = run_v2.ServicesClient(
        transport="rest", client_options=opts, credentials=AnonymousCredentials()
    )
    revisions = run_v2.RevisionsClient(
        transport="rest", client_options=opts, credentials=AnonymousCredentials()
    )

    svc = services.get_service(name=name)
    before = [(t.revision, t.percent, t.tag) for t in svc.traffic]

    pages = 0
    names = []
    for page in revisions.list_revisions(
        request=run_v2.ListRevisionsRequest(parent=name, page_size=2)
    ).pages:
        pages += 1
        names.extend(r.name.rsplit("/", 1)[-1] for r in page.revisions)

    revision = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
    svc.traffic = [
        run_v2.TrafficTarget(type_=revision, revision=stable, percent=90),
        run_v2.TrafficTarget(type_=revision, revision=canary, percent=10),
        run_v2.TrafficTarget(type_=revision, revision=canary, percent=0, tag="canary"),
    ]
    op = services.update_service(
        request=run_v2.UpdateServiceRequest(
            service=svc, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
        )
    )
    done = op.result(timeout=60)

    print(
        json.dumps(
            {
                "service": svc.name,
                "etag_before": svc.etag,
                "traffic_before": before,
                "revisions": names,
                "pages": pages,
                "operation": op.operation.name,
                "traffic_after": [(t.revision, t.percent, t.tag) for t in done.traffic],
                "statuses_after": [
                    (s.revision, s.percent, s.tag, s.uri) for s in done.traffic_statuses
                ],
                "reconciling": done.reconciling,
            }
        )
    )


if __name__ == "__main__":
    main()
