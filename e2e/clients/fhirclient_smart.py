"""fhirclient's SMART standalone launch against Portico (--auth=smart), as a patient app: it reads
the OAuth endpoints from the CapabilityStatement, builds the authorize URL (with PKCE) and
prints it as {"authorize": URL}; the user's browser (the Go test, e2e/clients_test.go) signs in
and consents, and hands back the redirect URL on standard input. The client then exchanges the
code, reads its launch patient and that patient's Observations (following next links), is
refused a write its scopes do not grant, refreshes its token and reads again.

Environment: PORTICO_FHIR_BASE, PORTICO_CLIENT_ID (a public app), PORTICO_REDIRECT_URI. Prints
what it saw as one JSON object.
"""

import json
import os
import sys

from fhirclient import client
from fhirclient.models.observation import Observation
from fhirclient.server import FHIRPermissionDeniedException

smart = client.FHIRClient(
    settings={
        "app_id": os.environ["PORTICO_CLIENT_ID"],
        "api_base": os.environ["PORTICO_FHIR_BASE"],
        "redirect_uri": os.environ["PORTICO_REDIRECT_URI"],
        "scope": "openid fhirUser offline_access patient/Patient.rs patient/Observation.rs",
    }
)
out = {"client": "fhirclient"}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


print(json.dumps({"authorize": smart.authorize_url}), flush=True)
callback = sys.stdin.readline().strip()
smart.handle_callback(callback)
check(smart.ready, "no access token after the callback")
out["patient"] = smart.patient_id
out["scope"] = smart.launch_context.get("scope")

patient = smart.patient
check(patient is not None and patient.id == smart.patient_id, "could not read the launch patient")
out["family"] = patient.name[0].family

search = Observation.where(struct={"patient": smart.patient_id, "_count": "2"})
out["observations"] = [o.id for o in search.perform_resources_iter(smart.server)]

try:
    Observation({"status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/" + smart.patient_id}}).create(smart.server)
    out["writeRefused"] = False
except FHIRPermissionDeniedException:
    out["writeRefused"] = True

first = smart.server.auth.access_token
check(smart.reauthorize(), "the refresh failed")
check(smart.server.auth.access_token != first, "the refresh gave the same access token")
smart._patient = None  # read again with the new token
out["familyAfterRefresh"] = smart.patient.name[0].family

print(json.dumps(out), flush=True)
