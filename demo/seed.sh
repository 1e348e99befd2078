#!/usr/bin/env bash
# Seeds a demo patient for the /demo app into a running Portico (started with --demo): a
# Patient with a few Observations and messages, and a user who signs in as that patient. It uses
# only public interfaces: `portico admin` on the same store, and the FHIR API with a
# client_credentials token of a short-lived seeding app, disabled at the end.
#
#   PORTICO_DATA_DIR=./portico-data bash demo/seed.sh              # a server on localhost:8080
#   BASE_URL=https://portal.example/fhir PORTICO="portico" bash demo/seed.sh
#
# The password is PORTICO_PASSWORD, or a random one printed at the end. Needs curl.
# For local development only: never seed a user with a known password into a real portal.
set -euo pipefail
cd "$(dirname "$0")/.."

PORTICO=${PORTICO:-go run .}
BASE_URL=${BASE_URL:-http://localhost:8080/fhir}
USERNAME=${DEMO_USERNAME:-demo}
PASSWORD=${PORTICO_PASSWORD:-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')}
ORIGIN=$(printf '%s' "$BASE_URL" | sed -E 's#^(https?://[^/]+).*#\1#')
AUTH=$(printf '%s' "$BASE_URL" | sed -E 's#/[^/]*$#/auth#')
unset PORTICO_PASSWORD # only for `admin user create` below

# json_field FIELD: the string value of "FIELD" in the JSON on stdin (flat, as admin prints it).
json_field() { sed -n 's/.*"'"$1"'": *"\([^"]*\)".*/\1/p' | head -n1; }

app=$($PORTICO admin app create --name "Demo seeder" --type confidential \
  --redirect-uri https://seed.invalid/callback --scope "system/*.cruds")
client_id=$(printf '%s' "$app" | json_field client_id)
secret=$(printf '%s' "$app" | json_field client_secret)
cleanup() { $PORTICO admin app disable --client-id "$client_id" >/dev/null || true; }
trap cleanup EXIT

token=$(curl -fsS -u "$client_id:$secret" -d grant_type=client_credentials -d 'scope=system/*.cruds' \
  "$AUTH/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "seed: no token from $AUTH/token" >&2; exit 1; }

# post TYPE JSON: creates a resource and prints its id.
post() {
  curl -fsS -X POST "$BASE_URL/$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/fhir+json' -d "$2" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n1
}

pid=$(post Patient '{"resourceType":"Patient","name":[{"given":["Jamie"],"family":"Rivera"}],"gender":"female","birthDate":"1985-04-12"}')
[ -n "$pid" ] || { echo "seed: the Patient was not created" >&2; exit 1; }
drid=$(post Practitioner '{"resourceType":"Practitioner","name":[{"prefix":["Dr"],"given":["Sam"],"family":"Okafor"}]}')

obs() { # obs LOINC DISPLAY CATEGORY WHEN VALUE UNIT
  post Observation '{"resourceType":"Observation","status":"final",
    "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"'"$3"'"}]}],
    "code":{"coding":[{"system":"http://loinc.org","code":"'"$1"'","display":"'"$2"'"}],"text":"'"$2"'"},
    "subject":{"reference":"Patient/'"$pid"'"},"effectiveDateTime":"'"$4"'",
    "valueQuantity":{"value":'"$5"',"unit":"'"$6"'","system":"http://unitsofmeasure.org","code":"'"$6"'"}}' >/dev/null
}
obs 29463-7 "Body weight" vital-signs 2025-09-01T08:30:00Z 68 kg
obs 8480-6 "Systolic blood pressure" vital-signs 2025-09-01T08:32:00Z 118 "mm[Hg]"
obs 4548-4 "Hemoglobin A1c" laboratory 2025-08-20T10:00:00Z 5.4 %
obs 2093-3 "Cholesterol, total" laboratory 2025-08-20T10:00:00Z 182 "mg/dL"

msg() { # msg PRIORITY SENT TEXT
  post Communication '{"resourceType":"Communication","status":"completed","priority":"'"$1"'",
    "subject":{"reference":"Patient/'"$pid"'"},"sender":{"reference":"Practitioner/'"$drid"'"},
    "recipient":[{"reference":"Patient/'"$pid"'"}],"sent":"'"$2"'","payload":[{"contentString":"'"$3"'"}]}' >/dev/null
}
msg routine 2025-08-21T09:00:00Z "Your lab results from August 20 are in: all within the normal range."
msg routine 2025-09-02T14:00:00Z "Welcome to the patient portal. You can send us a message here."

PORTICO_PASSWORD=$PASSWORD $PORTICO admin user create --username "$USERNAME" --fhir-user "Patient/$pid" >/dev/null

echo "Seeded Patient/$pid (Jamie Rivera) with 4 Observations and 2 messages."
echo "Open $ORIGIN/demo/ and sign in as: $USERNAME / $PASSWORD"
