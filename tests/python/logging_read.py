"""Reads the shared audit trail back from the fake's Cloud Logging with
Google's own Python client (google-cloud-logging, HTTP/JSON transport), as
tests/backends/python_client.rs asks:

    python3 logging_read.py ENDPOINT PROJECT LOG_ID SERVICE

Lists the entries of projects/PROJECT/logs/LOG_ID labelled with SERVICE,
oldest first, two a page, and prints one JSON object per entry: its
jsonPayload (the journal record), its `driver` label and its log name. Any
failure raises (non-zero exit).
"""

import json
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import logging as cloud_logging


def main() -> None:
    endpoint, project, log_id, service = sys.argv[1:5]
    client = cloud_logging.Client(
        project=project,
        credentials=AnonymousCredentials(),
        _use_grpc=False,
        client_options={"api_endpoint": endpoint},
    )
    log_filter = (
        f'logName="projects/{project}/logs/{log_id}" AND labels.service="{service}"'
    )
    entries = client.list_entries(
        resource_names=[f"projects/{project}"],
        filter_=log_filter,
        order_by=cloud_logging.ASCENDING,
        page_size=2,
    )
    for e in entries:
        print(
            json.dumps(
                {
                    "payload": e.payload,
                    "driver": (e.labels or {}).get("driver"),
                    "log_name": e.log_name,
                }
            )
        )


if __name__ == "__main__":
    main()
