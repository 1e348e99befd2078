// The demo portal's main page: FHIR.oauth2.ready() completes the SMART launch (it exchanges the
// code for a token with the PKCE verifier), then the page shows the patient banner, the
// patient's Observations and messages (Communication), and a form to send a message.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const status = $("status");

  function setText(el, t) {
    el.textContent = t == null ? "" : String(t);
  }
  function fail(el, msg) {
    setText(el, msg);
    el.className = "error";
  }
  function notice(el, msg) {
    setText(el, msg);
    el.className = "notice";
  }

  function humanName(p) {
    const n = (p.name || [])[0];
    if (!n) return "(no name)";
    if (n.text) return n.text;
    return [...(n.given || []), n.family].filter(Boolean).join(" ");
  }
  function codeText(cc) {
    if (!cc) return "";
    if (cc.text) return cc.text;
    const codings = cc.coding || [];
    const c = codings.find((c) => c.display) || codings[0];
    return c ? c.display || c.code || "" : "";
  }
  function obsValue(o) {
    if (o.valueQuantity) {
      const q = o.valueQuantity;
      return [q.value, q.unit || q.code].filter((x) => x !== undefined && x !== "").join(" ");
    }
    if (o.valueString != null) return o.valueString;
    if (o.valueCodeableConcept) return codeText(o.valueCodeableConcept);
    if (o.valueBoolean != null) return o.valueBoolean ? "yes" : "no";
    if (o.valueInteger != null) return String(o.valueInteger);
    if (o.component) return o.component.map((c) => codeText(c.code) + ": " + obsValue(c)).join("; ");
    return "";
  }
  // Dates as written (no time zone guessing): 2024-03-01 09:30.
  function when(s) {
    return s ? String(s).replace("T", " ").slice(0, 16) : "";
  }
  function entries(bundle) {
    return (bundle.entry || []).map((e) => e.resource).filter((r) => r && r.resourceType !== "OperationOutcome");
  }
  function denied(e) {
    return e && (e.status === 403 || e.statusCode === 403);
  }

  // createContexts lists the contexts (patient, user) of the granted scopes that let the app
  // create resources of type.
  function createContexts(scopes, type) {
    const out = [];
    for (const s of scopes) {
      const m = /^(patient|user)\/([A-Za-z*]+)\.([a-z*]+)/.exec(s);
      if (m && (m[2] === type || m[2] === "*") && (m[3] === "write" || m[3] === "*" || /^c/.test(m[3]))) out.push(m[1]);
    }
    return out;
  }

  async function showPatient(client, pid) {
    const p = await client.request("Patient/" + encodeURIComponent(pid));
    patientName = humanName(p);
    setText($("patient-name"), patientName);
    setText($("patient-birthdate"), p.birthDate || "unknown");
    setText($("patient-gender"), p.gender || "unknown");
    setText($("patient-id"), "Patient/" + p.id);
    document.title = humanName(p) + " · Portico demo portal";
    $("banner").hidden = false;
  }

  async function showObservations(client, pid) {
    const st = $("obs-status");
    $("observations").hidden = false;
    try {
      const b = await client.request("Observation?patient=" + encodeURIComponent(pid) + "&_sort=-date&_count=50");
      const rows = $("obs-rows");
      rows.replaceChildren();
      for (const o of entries(b)) {
        const tr = document.createElement("tr");
        for (const v of [when(o.effectiveDateTime || (o.effectivePeriod || {}).start || o.issued), codeText(o.code), obsValue(o)]) {
          const td = document.createElement("td");
          setText(td, v);
          tr.appendChild(td);
        }
        rows.appendChild(tr);
      }
      $("obs-table").hidden = rows.children.length === 0;
      setText(st, rows.children.length === 0 ? "No results yet." : plural(rows.children.length, "result", "results") + ", latest first.");
    } catch (e) {
      if (denied(e)) notice(st, "You did not share your results with this app (Portico answered 403 Forbidden).");
      else fail(st, "Your results could not be loaded: " + e.message);
    }
  }

  // senderLabel names a message's sender without reading more resources (the app may not
  // have been allowed to read Practitioner).
  function senderLabel(sender, pid, patientName, me) {
    const ref = (sender || {}).reference || "";
    if (ref && ref === me) return "You";
    if (ref === "Patient/" + pid) return me === ref ? "You" : patientName || ref;
    if (sender && sender.display) return sender.display;
    if (/^(Practitioner|PractitionerRole|Organization|CareTeam)\//.test(ref)) return "the care team";
    return "the clinic";
  }

  let patientName = "";

  async function showMessages(client, pid) {
    const me = ownReference(client, pid);
    const st = $("msg-status");
    $("messages").hidden = false;
    try {
      // Most urgent first (Portico sorts priority by clinical rank), then oldest first.
      const b = await client.request("Communication?patient=" + encodeURIComponent(pid) + "&_sort=priority,sent&_count=50");
      const list = $("msg-list");
      list.replaceChildren();
      for (const c of entries(b)) {
        const li = document.createElement("li");
        const meta = document.createElement("p");
        meta.className = "meta";
        setText(meta, "From " + senderLabel(c.sender, pid, patientName, me) + (c.sent ? ", " + when(c.sent) : ""));
        if (c.priority && c.priority !== "routine") {
          const pr = document.createElement("span");
          pr.className = "priority";
          setText(pr, " · " + c.priority);
          meta.appendChild(pr);
        }
        const body = document.createElement("p");
        setText(body, (c.payload || []).map((x) => x.contentString).filter(Boolean).join("\n"));
        li.append(meta, body);
        list.appendChild(li);
      }
      setText(st, list.children.length === 0 ? "No messages yet." : plural(list.children.length, "message", "messages") + ".");
      return true;
    } catch (e) {
      if (denied(e)) notice(st, "You did not share your messages with this app (Portico answered 403 Forbidden).");
      else fail(st, "Your messages could not be loaded: " + e.message);
      return false;
    }
  }

  // ownReference is who the app writes as: a patient's token may only send as the patient
  // (Portico refuses any other sender); staff send as themselves.
  function ownReference(client, pid) {
    const fhirUser = client.user.fhirUser || "";
    return /^(Practitioner|PractitionerRole)\//.test(fhirUser) ? fhirUser : "Patient/" + pid;
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  // The red-flag screening Portico serves (Questionnaire/portico-red-flags): yes/no questions a
  // patient answers before sending. A yes to an emergency question shows at once what to do;
  // the answers go with the message as a contained QuestionnaireResponse, and set the least
  // priority triage gives it. Without access to the Questionnaire the form works without it.
  const screeningURL = "http://portico.health/fhir/Questionnaire/portico-red-flags";

  function translated(text, ext, lang) {
    for (const e of (ext && ext.extension) || []) {
      const parts = e.extension || [];
      const l = parts.find((x) => x.url === "lang");
      const c = parts.find((x) => x.url === "content");
      if (l && c && l.valueCode === lang) return c.valueString;
    }
    return text;
  }

  async function setUpScreening(client) {
    const box = $("screening");
    let q;
    try {
      q = await client.request("Questionnaire/portico-red-flags");
    } catch (e) {
      return null;
    }
    const lang = (navigator.language || "en").slice(0, 2);
    const list = $("screening-items");
    list.textContent = "";
    for (const item of q.item || []) {
      const li = document.createElement("li");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.id = "screen-" + item.linkId;
      input.dataset.linkId = item.linkId;
      const label = document.createElement("label");
      label.htmlFor = input.id;
      label.textContent = translated(item.text, item._text, lang);
      li.append(input, label);
      const call = (item.item || []).find((c) => c.type === "display");
      if (call) {
        const alert = document.createElement("p");
        alert.className = "emergency";
        alert.setAttribute("role", "alert");
        alert.hidden = true;
        alert.textContent = translated(call.text, call._text, lang);
        input.addEventListener("change", () => { alert.hidden = !input.checked; });
        li.append(alert);
      }
      list.append(li);
    }
    box.hidden = false;
    return () => ({
      resourceType: "QuestionnaireResponse",
      id: "qr",
      questionnaire: q.url || screeningURL,
      status: "completed",
      item: Array.from(list.querySelectorAll("input[type=checkbox]")).map((i) => ({
        linkId: i.dataset.linkId,
        answer: [{ valueBoolean: i.checked }],
      })),
    });
  }

  function setUpForm(client, pid, scopes) {
    const form = $("msg-form");
    const ctx = createContexts(scopes, "Communication");
    const staff = ownReference(client, pid) !== "Patient/" + pid;
    // A patient/ scope writes only as the patient: staff in an EHR launch do not get the form.
    if (ctx.length === 0 || (staff && !ctx.includes("user"))) return;
    if (staff) setText($("msg-form-heading"), "Send a message to " + (patientName || "the patient"));
    form.hidden = false;
    const screening = staff ? Promise.resolve(null) : setUpScreening(client);
    const fst = $("msg-form-status");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = $("msg-text").value.trim();
      if (!text) {
        fail(fst, "Write a message first.");
        return;
      }
      const sender = ownReference(client, pid);
      $("msg-send").disabled = true;
      try {
        const answers = await screening;
        const qr = answers ? answers() : null;
        await client.create({
          resourceType: "Communication",
          ...(qr ? { contained: [qr] } : {}),
          status: "completed",
          subject: { reference: "Patient/" + pid },
          sender: { reference: sender },
          // Staff write to the patient; a patient's message is routed by Portico's triage.
          ...(sender === "Patient/" + pid ? {} : { recipient: [{ reference: "Patient/" + pid }] }),
          sent: new Date().toISOString(),
          payload: [{ contentString: text }, ...(qr ? [{ contentReference: { reference: "#qr" } }] : [])],
        });
        $("msg-text").value = "";
        for (const i of document.querySelectorAll("#screening-items input")) i.checked = false;
        for (const a of document.querySelectorAll("#screening-items .emergency")) a.hidden = true;
        fst.className = "";
        setText(fst, "Message sent.");
        await showMessages(client, pid);
      } catch (e) {
        fail(fst, denied(e) ? "You did not allow this app to send messages." : "The message could not be sent: " + e.message);
      } finally {
        $("msg-send").disabled = false;
      }
    });
  }

  function showAccess(scopes) {
    const ul = $("scope-list");
    for (const s of scopes) {
      const li = document.createElement("li");
      const code = document.createElement("code");
      setText(code, s);
      li.appendChild(code);
      ul.appendChild(li);
    }
    $("access").hidden = false;
    $("sign-out").addEventListener("click", () => {
      sessionStorage.clear(); // the client library keeps the tokens there
      location.href = "launch.html";
    });
  }

  async function main() {
    const params = new URLSearchParams(location.search);
    if (!params.has("code") && !params.has("error") && !sessionStorage.getItem("SMART_KEY")) {
      setText(status, "");
      $("signin").hidden = false;
      return;
    }
    setText(status, "Loading…");
    let client;
    try {
      client = await FHIR.oauth2.ready();
    } catch (e) {
      fail(status, "Sign-in did not complete: " + e.message);
      $("signin").hidden = false;
      return;
    }
    const pid = client.patient.id;
    const scopes = String((client.state.tokenResponse || {}).scope || "").split(/\s+/).filter(Boolean);
    if (!pid) {
      fail(status, "No patient was chosen for this app.");
      return;
    }
    setText(status, "");
    try {
      await showPatient(client, pid);
    } catch (e) {
      fail(status, denied(e) ? "You did not share your demographics with this app." : "The patient could not be loaded: " + e.message);
    }
    await Promise.all([showObservations(client, pid), showMessages(client, pid)]);
    setUpForm(client, pid, scopes);
    showAccess(scopes);
    document.body.dataset.ready = "true"; // for the browser tests: everything is on the page
  }
  main();
})();
