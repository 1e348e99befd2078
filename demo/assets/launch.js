// The demo's launch page: a standalone launch from the form, or an EHR launch when opened with
// ?iss=...&launch=... . Either way FHIR.oauth2.authorize (the SMART JavaScript client) sends the
// browser to Portico's authorization endpoint with PKCE.
"use strict";
(async function () {
  const status = document.getElementById("status");
  const form = document.getElementById("launch-form");
  function fail(msg) {
    status.textContent = msg;
    status.className = "error";
  }

  // One scope per type, so the consent page lets the user withhold each one.
  const SCOPES = {
    patient: "launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs patient/Communication.crs patient/Questionnaire.rs",
    staff: "launch/patient openid fhirUser offline_access user/Patient.rs user/Observation.rs user/Communication.crs",
    ehr: "launch openid fhirUser offline_access patient/Patient.rs patient/Observation.rs patient/Communication.crs",
  };

  let cfg;
  try {
    const r = await fetch("config.json", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    cfg = await r.json();
  } catch (e) {
    fail("The app's configuration could not be loaded: " + e.message);
    return;
  }

  function start(kind) {
    status.className = "";
    status.textContent = "Going to the sign-in page…";
    FHIR.oauth2.authorize({
      clientId: cfg.clientId,
      scope: SCOPES[kind],
      redirectUri: cfg.redirectUri,
      iss: cfg.fhirBaseUrl,
      pkceMode: "required", // Portico requires S256; never fall back to no PKCE
    }).catch((e) => fail("Cannot start the sign-in: " + e.message));
  }

  const params = new URLSearchParams(location.search);
  // The client library would honour these from the URL (skipping authorization, or switching
  // app or server); this app only ever talks to the Portico that serves it.
  for (const p of ["fhirServiceUrl", "patientId", "clientId"]) {
    if (params.has(p)) {
      fail("This link is not valid for this app (parameter " + p + ").");
      return;
    }
  }
  const iss = params.get("iss");
  const launch = params.get("launch");
  if (iss !== null || launch !== null) {
    // EHR launch. Only our own FHIR server: an iss from a link would otherwise send the user,
    // and this app's client_id, to any server named in it.
    if (!iss || !launch) {
      fail("An EHR launch needs both iss and launch.");
      return;
    }
    if (iss.replace(/\/+$/, "") !== cfg.fhirBaseUrl) {
      fail("This app only works with the FHIR server that serves it (" + cfg.fhirBaseUrl + "), not " + iss + ".");
      return;
    }
    start("ehr");
    return;
  }
  form.hidden = false;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    start(form.elements.as.value === "staff" ? "staff" : "patient");
  });
})();
