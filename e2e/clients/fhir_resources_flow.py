"""fhir.resources (the pydantic FHIR models; 6.4.0, the last release whose models are R4 4.0.1)
with requests against Portico: every request body is built from the models and every answer
(the CapabilityStatement, resources, each page of a search, history, the transaction response,
OperationOutcomes) is parsed into them, which validate types, cardinalities and choice elements.
Create, read, search with paging (next links), update, history, a transaction, a FHIRPath
Patch, a conditional create, an error.

Run by e2e/clients_test.go with PORTICO_FHIR_BASE and PORTICO_RUN (a tag unique to the run);
prints what it saw as one JSON object, which the Go test checks against the server.
"""

import json
import os

import requests
from fhir.resources import __fhir_version__
from fhir.resources.bundle import Bundle
from fhir.resources.capabilitystatement import CapabilityStatement
from fhir.resources.observation import Observation
from fhir.resources.operationoutcome import OperationOutcome
from fhir.resources.parameters import Parameters
from fhir.resources.patient import Patient

base = os.environ["PORTICO_FHIR_BASE"].rstrip("/")
run = os.environ["PORTICO_RUN"]
http = requests.Session()
http.headers["Accept"] = "application/fhir+json"
JSON = {"Content-Type": "application/fhir+json"}
out = {"client": "fhir.resources", "fhirVersion": __fhir_version__}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def ok(r, *statuses):
    check(r.status_code in statuses, f"{r.request.method} {r.url}: {r.status_code} {r.text[:500]}")
    return r


check(__fhir_version__ == "4.0.1", f"fhir.resources models are FHIR {__fhir_version__}, not R4")
cs = CapabilityStatement.parse_raw(ok(http.get(base + "/metadata"), 200).content)
check(cs.fhirVersion == "4.0.1", "metadata is not R4")

patient = Patient.parse_obj(
    {
        "resourceType": "Patient",
        "identifier": [{"system": "https://example.org/clients", "value": run}],
        "name": [{"family": "Resources", "given": ["Pydantic"]}],
        "birthDate": "1983-05-06",
    }
)
created = Patient.parse_raw(ok(http.post(base + "/Patient", data=patient.json(), headers=JSON), 201).content)
check(created.id and created.meta.versionId == "1", "create returned no id or version 1")
pid = created.id
out["patient"] = pid

read = Patient.parse_raw(ok(http.get(f"{base}/Patient/{pid}"), 200).content)
check(read.name[0].family == "Resources", "read returned another patient")

for i in range(7):
    obs = Observation.parse_obj(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": f"2026-01-0{i + 1}T08:00:00Z",
            "valueQuantity": {"value": 60 + i, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"},
        }
    )
    Observation.parse_raw(ok(http.post(base + "/Observation", data=obs.json(), headers=JSON), 201).content)

# Search, three to a page, following next links to the end.
url = f"{base}/Observation?subject=Patient/{pid}&_count=3&_sort=date&_include=Observation:subject"
out["pages"] = 0
out["observations"] = []
while url:
    page = Bundle.parse_raw(ok(http.get(url), 200).content)
    check(page.type == "searchset", "a page is not a searchset")
    out["pages"] += 1
    for e in page.entry or []:
        if e.search.mode == "match":
            check(e.resource.resource_type == "Observation", "a match is not an Observation")
            out["observations"].append(e.resource.id)
        else:
            check(e.resource.resource_type == "Patient" and e.resource.id == pid, "the include is not the patient")
    url = next((link.url for link in page.link or [] if link.relation == "next"), None)

read.gender = "female"
updated = Patient.parse_raw(ok(http.put(f"{base}/Patient/{pid}", data=read.json(), headers=JSON), 200).content)
check(updated.meta.versionId == "2", "update did not make version 2")

history = Bundle.parse_raw(ok(http.get(f"{base}/Patient/{pid}/_history"), 200).content)
check(history.type == "history", "history is not a history Bundle")
out["historyVersions"] = [e.resource.meta.versionId for e in history.entry]

tx = Bundle.parse_obj({"resourceType": "Bundle", "type": "transaction", "entry": [
    {
        "fullUrl": "urn:uuid:2b0f8a4c-9d6e-4f3b-8c1a-5e7d9f0b1c22",
        "resource": {"resourceType": "Patient", "name": [{"family": "Resources", "given": ["Tx"]}],
                     "identifier": [{"system": "https://example.org/clients", "value": run + "-tx"}]},
        "request": {"method": "POST", "url": "Patient"},
    },
    {
        "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                     "subject": {"reference": "urn:uuid:2b0f8a4c-9d6e-4f3b-8c1a-5e7d9f0b1c22"},
                     "valueQuantity": {"value": 70.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}},
        "request": {"method": "POST", "url": "Observation"},
    },
]})
resp = Bundle.parse_raw(ok(http.post(base, data=tx.json(), headers=JSON), 200).content)
check(resp.type == "transaction-response" and len(resp.entry) == 2, "no transaction-response of two entries")
out["transaction"] = [e.response.location for e in resp.entry]

# FHIRPath Patch: a Parameters resource.
patch = Parameters.parse_obj({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
    {"name": "type", "valueCode": "add"},
    {"name": "path", "valueString": "Patient"},
    {"name": "name", "valueString": "telecom"},
    {"name": "value", "valueContactPoint": {"system": "phone", "value": "555-0103"}},
]}]})
patched = Patient.parse_raw(ok(http.patch(f"{base}/Patient/{pid}", data=patch.json(), headers=JSON), 200).content)
check(patched.telecom[0].value == "555-0103", "the patch was not applied")
out["patchedVersion"] = patched.meta.versionId

# A conditional create that finds the patient: 200 with it, nothing created.
again = Patient.parse_raw(ok(http.post(base + "/Patient", data=patient.json(),
                                       headers={**JSON, "If-None-Exist": f"identifier=https://example.org/clients|{run}"}), 200).content)
check(again.id == pid, "the conditional create did not find the patient")

# An error is an OperationOutcome.
bad = ok(http.get(base + "/Patient/does-not-exist"), 404)
OperationOutcome.parse_raw(bad.content)

ok(http.delete(f"{base}/Observation/{out['observations'][0]}"), 200, 204)
out["deleted"] = out["observations"][0]

print(json.dumps(out))
