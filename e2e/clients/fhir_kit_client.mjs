// fhir-kit-client against Portico, as an app would use it: create, read, search with paging
// (next links), update, history, a transaction, a JSON Patch, delete. Run by
// e2e/clients_test.go with PORTICO_FHIR_BASE and PORTICO_RUN (a tag unique to the run); prints
// what it saw as one JSON object, which the Go test checks against the server.
import { Client } from 'fhir-kit-client';

const base = process.env.PORTICO_FHIR_BASE;
const run = process.env.PORTICO_RUN;
const client = new Client({ baseUrl: base });
const out = { client: 'fhir-kit-client' };

function check(cond, what) {
  if (!cond) throw new Error(what);
}

const cs = await client.capabilityStatement();
check(cs.resourceType === 'CapabilityStatement' && cs.fhirVersion === '4.0.1', 'metadata is not an R4 CapabilityStatement');

const patient = await client.create({
  resourceType: 'Patient',
  body: {
    resourceType: 'Patient',
    identifier: [{ system: 'https://example.org/clients', value: run }],
    name: [{ family: 'Kit', given: ['Fiona'] }],
    birthDate: '1981-03-04',
  },
});
check(patient.id && patient.meta?.versionId === '1', 'create returned no id or version 1');
out.patient = patient.id;

const read = await client.read({ resourceType: 'Patient', id: patient.id });
check(read.name?.[0]?.family === 'Kit', 'read returned another patient');

for (let i = 0; i < 7; i++) {
  await client.create({
    resourceType: 'Observation',
    body: {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
      subject: { reference: `Patient/${patient.id}` },
      effectiveDateTime: `2026-01-0${i + 1}T08:00:00Z`,
      valueQuantity: { value: 60 + i, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
    },
  });
}

// Search, three to a page, following next links to the end.
let page = await client.search({
  resourceType: 'Observation',
  searchParams: { subject: `Patient/${patient.id}`, _count: 3, _sort: 'date' },
});
out.pages = 0;
out.observations = [];
while (page) {
  check(page.resourceType === 'Bundle' && page.type === 'searchset', 'a page is not a searchset Bundle');
  out.pages++;
  for (const e of page.entry ?? []) out.observations.push(e.resource.id);
  page = await client.nextPage({ bundle: page });
}

const updated = await client.update({
  resourceType: 'Patient',
  id: patient.id,
  body: { ...read, gender: 'female' },
});
check(updated.meta?.versionId === '2', 'update did not make version 2');

const history = await client.history({ resourceType: 'Patient', id: patient.id });
check(history.type === 'history', 'history is not a history Bundle');
out.historyVersions = history.entry.map((e) => e.resource?.meta?.versionId);

const tx = await client.transaction({
  body: {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:6f1c2f7e-3c1a-4d7e-9a55-0c7b1d1e2a01',
        resource: { resourceType: 'Patient', name: [{ family: 'Kit', given: ['Tx'] }], identifier: [{ system: 'https://example.org/clients', value: run + '-tx' }] },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'weight' },
          subject: { reference: 'urn:uuid:6f1c2f7e-3c1a-4d7e-9a55-0c7b1d1e2a01' },
          valueQuantity: { value: 70.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  },
});
check(tx.type === 'transaction-response' && tx.entry.length === 2, 'no transaction-response of two entries');
out.transaction = tx.entry.map((e) => e.response.location);

const patched = await client.patch({
  resourceType: 'Patient',
  id: patient.id,
  jsonPatch: [{ op: 'add', path: '/telecom', value: [{ system: 'phone', value: '555-0101' }] }],
});
check(patched.telecom?.[0]?.value === '555-0101', 'the patch was not applied');
out.patchedVersion = patched.meta.versionId;

await client.delete({ resourceType: 'Observation', id: out.observations[0] });
out.deleted = out.observations[0];

console.log(JSON.stringify(out));
