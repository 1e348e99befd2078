"""fhirclient (SMART on FHIR's Python client, R4 models) against Portico, as an app would use it:
metadata, create, read, search with paging (next links), update, history, a transaction, a JSON
Patch (through the client's own HTTP session: fhirclient has no patch), delete. Every answer is
read into fhirclient's models, which refuse an element R4 does not define.

Run by e2e/clients_test.go with PORTICO_FHIR_BASE and PORTICO_RUN (a tag unique to the run);
prints what it saw as one JSON object, which the Go test checks against the server.
"""

import json
import os

from fhirclient import client
from fhirclient.models.bundle import Bundle
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient

base = os.environ["PORTICO_FHIR_BASE"]
run = os.environ["PORTICO_RUN"]
smart = client.FHIRClient(settings={"app_id": "portico-e2e", "api_base": base})
server = smart.server
out = {"client": "fhirclient"}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# The CapabilityStatement, read into the model.
server.get_capability()
check(server.capabilityStatement.fhirVersion == "4.0.1", "metadata is not R4")

patient = Patient(
    {
        "identifier": [{"system": "https://example.org/clients", "value": run}],
        "name": [{"family": "Client", "given": ["Fhir"]}],
        "birthDate": "1982-04-05",
    }
)
created = Patient(patient.create(server))
check(created.id and created.meta.versionId == "1", "create returned no id or version 1")
pid = created.id
out["patient"] = pid

read = Patient.read(pid, server)
check(read.name[0].family == "Client", "read returned another patient")
check(read.birthDate.isostring == "1982-04-05", "birthDate changed")

for i in range(7):
    Observation(
        {
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": f"2026-01-0{i + 1}T08:00:00Z",
            "valueQuantity": {"value": 60 + i, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"},
        }
    ).create(server)

# Search, three to a page: perform_iter follows the next links.
search = Observation.where(struct={"subject": f"Patient/{pid}", "_count": "3", "_sort": "date"})
out["pages"] = 0
out["observations"] = []
for page in search.perform_iter(server):
    check(page.type == "searchset", "a page is not a searchset")
    out["pages"] += 1
    for e in page.entry or []:
        check(isinstance(e.resource, Observation), "an entry is not an Observation")
        out["observations"].append(e.resource.id)

read.gender = "female"
updated = Patient(read.update(server))
check(updated.meta.versionId == "2", "update did not make version 2")

history = Bundle(server.request_json(f"Patient/{pid}/_history"))
check(history.type == "history", "history is not a history Bundle")
out["historyVersions"] = [e.resource.meta.versionId for e in history.entry]

tx = Bundle(
    {
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0d6f4b1e-8a43-4c0e-b2f4-2f0e5c9b7a11",
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"family": "Client", "given": ["Tx"]}],
                    "identifier": [{"system": "https://example.org/clients", "value": run + "-tx"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "weight"},
                    "subject": {"reference": "urn:uuid:0d6f4b1e-8a43-4c0e-b2f4-2f0e5c9b7a11"},
                    "valueQuantity": {"value": 70.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
)
resp = Bundle(tx.create(server))
check(resp.type == "transaction-response" and len(resp.entry) == 2, "no transaction-response of two entries")
out["transaction"] = [e.response.location for e in resp.entry]

r = server.session.patch(
    server.base_uri + f"Patient/{pid}",
    data=json.dumps([{"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "555-0102"}]}]),
    headers={"Content-Type": "application/json-patch+json", "Accept": "application/fhir+json"},
)
server.raise_for_status(r)
patched = Patient(r.json())
check(patched.telecom[0].value == "555-0102", "the patch was not applied")
out["patchedVersion"] = patched.meta.versionId

Observation.read(out["observations"][0], server).delete(server)
out["deleted"] = out["observations"][0]

print(json.dumps(out))
