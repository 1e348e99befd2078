// Drives Portico's /demo SMART app and authorization pages in real (headless) Chromium.
//
//   PORTICO_E2E='{"origin":...}' node demo.mjs SCENARIO
//
// e2e/browser_test.go starts Portico, seeds patients and users, and runs one scenario per
// subtest with the configuration in PORTICO_E2E (see that file for its fields). A scenario
// checks what a person would see; on success it prints one JSON line with what the Go test
// checks further (the token response, ...) and exits 0; on failure it prints the reason to
// stderr and exits 1. A screenshot of the final page goes to cfg.shots.
import { chromium } from "playwright-core";
import path from "node:path";

const cfg = JSON.parse(process.env.PORTICO_E2E || "{}");
const scenario = process.argv[2];
const TIMEOUT = 30000; // generous: CI runs the whole suite on 2 cores

class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

// newPage opens a page in a fresh context (its own sessionStorage), recording the token
// response, page errors and Content-Security-Policy violations.
async function newPage(browser, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 }, ...opts });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const rec = { problems: [], tokenResponse: null, tokenRequests: 0, redirects: [] };
  page.on("pageerror", (e) => rec.problems.push("page error: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) rec.problems.push("console: " + m.text());
  });
  page.on("request", (r) => {
    if (r.url().startsWith(cfg.origin + "/auth/token")) rec.tokenRequests++;
    if (r.isNavigationRequest() && r.url().startsWith(cfg.origin + "/demo/?")) rec.redirects.push(r.url());
  });
  page.on("response", async (r) => {
    if (r.url() === cfg.origin + "/auth/token" && r.request().method() === "POST") {
      try {
        rec.tokenResponse = { status: r.status(), body: await r.json() };
      } catch (e) {
        rec.problems.push("token response: " + e.message);
      }
    }
  });
  return { context, page, rec };
}

// tokenSettled waits (up to 10 s) for the token response handler, which reads the body
// asynchronously: on a loaded machine the page can be ready before the handler has run.
async function tokenSettled(rec) {
  for (let i = 0; i < 100 && !rec.tokenResponse && rec.tokenRequests > 0; i++) await new Promise((r) => setTimeout(r, 100));
}

async function shot(page, name) {
  if (cfg.shots) await page.screenshot({ path: path.join(cfg.shots, name + ".png"), fullPage: true });
}

function noProblems(rec) {
  check(rec.problems.length === 0, "problems in the page:\n" + rec.problems.join("\n"));
}

// startStandalone opens the demo's launch page and signs in as a patient or staff.
async function startStandalone(page, as = "patient") {
  await page.goto(cfg.origin + "/demo/launch.html");
  if (as === "staff") await page.getByLabel(/Clinic staff/).check();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname === "/auth/authorize");
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
}

async function login(page, user) {
  // getByLabel: the fields must be labelled for this to find them.
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function consentPage(page) {
  await page.getByRole("heading", { name: "Share your data?" }).waitFor();
}

async function allow(page) {
  await page.getByRole("button", { name: "Allow" }).click();
}

// demoReady waits for the demo to have shown everything after the launch.
async function demoReady(page) {
  await page.waitForURL((u) => u.pathname === "/demo/");
  await page.locator("body[data-ready=true]").waitFor();
}

async function banner(page) {
  return {
    name: (await page.locator("#patient-name").textContent()).trim(),
    birthDate: (await page.locator("#patient-birthdate").textContent()).trim(),
    id: (await page.locator("#patient-id").textContent()).trim(),
  };
}

async function observationNames(page) {
  return page.locator("#obs-rows tr td:nth-child(2)").allTextContents();
}

async function messageTexts(page) {
  return page.locator("#msg-list li p:not(.meta)").allTextContents();
}

function expectPatient(b, p) {
  check(b.name === p.name, `banner shows ${JSON.stringify(b.name)}, want ${JSON.stringify(p.name)}`);
  check(b.birthDate === p.birthDate, `banner birth date ${JSON.stringify(b.birthDate)}, want ${p.birthDate}`);
  check(b.id === "Patient/" + p.id, `banner record ${b.id}, want Patient/${p.id}`);
}

function sameList(got, want, what) {
  check(JSON.stringify(got) === JSON.stringify(want), `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// crossOriginLaunch signs in as the patient from the demo app served on cfg.appOrigin, a
// second origin beside Portico's (e2e/browser_cors_test.go serves it with its own client), and
// waits for the app to have shown what it could. fhir records the app's calls to the FHIR API:
// those the browser let through (status) and those it blocked (failed), and console errors
// naming CORS.
async function crossOriginLaunch(browser) {
  check(cfg.appOrigin && cfg.appOrigin !== cfg.origin, "cfg.appOrigin must be a second origin");
  const { page, rec } = await newPage(browser);
  const fhir = { responses: [], failed: [], corsErrors: [] };
  page.on("response", (r) => {
    if (r.url().startsWith(cfg.fhirBase + "/") && r.request().method() !== "OPTIONS") fhir.responses.push(r.request().method() + " " + r.status());
  });
  page.on("requestfailed", (r) => {
    if (r.url().startsWith(cfg.fhirBase + "/")) fhir.failed.push(r.method() + " " + r.url() + ": " + r.failure().errorText);
  });
  page.on("console", (m) => {
    if (m.type() === "error" && /CORS policy/.test(m.text())) fhir.corsErrors.push(m.text());
  });
  await page.goto(cfg.appOrigin + "/demo/launch.html");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.origin === cfg.origin && u.pathname === "/auth/authorize");
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await login(page, cfg.patientUser);
  await consentPage(page);
  await allow(page);
  await page.waitForURL((u) => u.origin === cfg.appOrigin && u.pathname === "/demo/");
  await page.locator("body[data-ready=true]").waitFor();
  // The token endpoint answers every origin: the sign-in itself works cross-origin.
  await tokenSettled(rec);
  check(rec.tokenResponse && rec.tokenResponse.status === 200, "no successful token response: " + JSON.stringify(rec.tokenResponse));
  return { page, rec, fhir };
}

// rawCalls makes, from the app's page, calls the SMART client does not show the details of:
// a read whose ETag and Last-Modified the page must be able to read, a 404 and a 401
// OperationOutcome (a browser app must be able to read why it failed), and a plain GET of
// /metadata. Each is {status, etag, lastModified, challenge, resourceType} or {error}.
async function rawCalls(page) {
  return page.evaluate(async (base) => {
    const client = await FHIR.oauth2.ready(); // the stored session: no new token request
    const token = client.state.tokenResponse.access_token;
    const call = async (path, auth) => {
      try {
        const r = await fetch(base + "/" + path, { headers: auth ? { Authorization: "Bearer " + token } : {} });
        const body = await r.json();
        return { status: r.status, etag: r.headers.get("ETag"), lastModified: r.headers.get("Last-Modified"),
          challenge: r.headers.get("WWW-Authenticate"), resourceType: body.resourceType };
      } catch (e) {
        return { error: String(e) };
      }
    };
    return {
      read: await call("Patient/" + client.patient.id, true),
      missing: await call("Patient/no-such-patient", true),
      noToken: await call("Observation?patient=" + client.patient.id, false),
      metadata: await call("metadata", false),
    };
  }, cfg.fhirBase);
}

const scenarios = {
  // (a) Standalone launch; the patient unticks Communication on the consent page.
  async standalone(browser) {
    const { page, rec } = await newPage(browser);
    await startStandalone(page);
    await login(page, cfg.patientUser);
    await consentPage(page);
    const comm = page.getByRole("checkbox", { name: /Communication/ });
    check(await comm.isChecked(), "the Communication scope should be ticked at first");
    await comm.uncheck();
    await allow(page);
    await demoReady(page);
    expectPatient(await banner(page), cfg.peter);
    sameList(await observationNames(page), cfg.peter.observations, "Observations, latest first");
    const msg = await page.locator("#msg-status").textContent();
    check(/did not share your messages/.test(msg), "messages section says: " + msg);
    check((await page.locator("#msg-list li").count()) === 0, "no message may be listed");
    check(await page.locator("#msg-form").isHidden(), "the send form must be hidden without Communication access");
    await tokenSettled(rec);
  check(rec.tokenResponse && rec.tokenResponse.status === 200, "no successful token response: " + JSON.stringify(rec.tokenResponse));
    const scopes = rec.tokenResponse.body.scope.split(" ");
    check(!scopes.some((s) => s.includes("Communication")), "granted scope still has Communication: " + rec.tokenResponse.body.scope);
    check(scopes.includes("patient/Observation.rs"), "granted scope lacks patient/Observation.rs: " + rec.tokenResponse.body.scope);
    const shown = await page.locator("#scope-list li").allTextContents();
    sameList(shown, scopes, "scopes shown by the demo");
    await shot(page, "a-standalone");
    noProblems(rec);
    return { tokenResponse: rec.tokenResponse.body };
  },

  // (a') Standalone launch with everything allowed: messages most urgent first, and sending one.
  async message(browser) {
    const { page, rec } = await newPage(browser);
    await startStandalone(page);
    await login(page, cfg.patientUser);
    await consentPage(page);
    await allow(page);
    await demoReady(page);
    expectPatient(await banner(page), cfg.peter);
    sameList(await messageTexts(page), cfg.peter.messages, "messages, by priority then sent");
    const text = "Could I have a refill of my inhaler? (sent from the browser test)";
    await page.getByLabel("Your message").fill(text);
    // The screening questions: an emergency answer says at once what to do.
    await page.locator("#screening").waitFor();
    const emergency = page.locator("#screen-emergency-now");
    await emergency.check();
    const alert = page.locator("#screening-items li", { has: emergency }).getByRole("alert");
    check(/911/.test(await alert.textContent()) && (await alert.isVisible()), "no emergency instruction after a yes");
    await emergency.uncheck();
    check(await alert.isHidden(), "the emergency instruction stays after the answer is withdrawn");
    await page.locator("#screen-new-symptom").check();
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("Message sent.").waitFor();
    await page.locator("#msg-list li", { hasText: text }).waitFor();
    const from = await page.locator("#msg-list li", { hasText: text }).locator(".meta").textContent();
    check(/^From You/.test(from), "the new message should be from You: " + from);
    await shot(page, "a-message");
    noProblems(rec);
    return { tokenResponse: rec.tokenResponse.body, sent: text };
  },

  // (b) EHR launch: the EHR opens the demo with iss and a launch handle for a patient.
  async ehr(browser) {
    // An iss other than the demo's own server is refused before anything is sent anywhere.
    {
      const { page, rec } = await newPage(browser);
      await page.goto(cfg.origin + "/demo/launch.html?iss=" + encodeURIComponent("http://evil.example/fhir") + "&launch=x");
      await page.getByText(/only works with the FHIR server that serves it/).waitFor();
      check(new URL(page.url()).pathname === "/demo/launch.html", "a foreign iss must not navigate: " + page.url());
      noProblems(rec);
      await page.context().close();
    }
    const { page, rec } = await newPage(browser);
    await page.goto(cfg.origin + "/demo/launch.html?iss=" + encodeURIComponent(cfg.fhirBase) + "&launch=" + encodeURIComponent(cfg.launch));
    await page.waitForURL((u) => u.pathname === "/auth/authorize");
    const authURL = new URL(page.url());
    check(authURL.searchParams.get("launch") === cfg.launch, "the authorize request lacks the launch handle");
    check(authURL.searchParams.get("code_challenge_method") === "S256", "the authorize request lacks PKCE S256");
    await login(page, cfg.staffUser);
    await consentPage(page); // no patient picker: the launch names the patient
    check((await page.locator("main").textContent()).includes(cfg.amy.name), "the consent page should name the launch patient");
    await allow(page);
    await demoReady(page);
    expectPatient(await banner(page), cfg.amy);
    sameList(await observationNames(page), cfg.amy.observations, "Observations of the launch patient");
    const tr = rec.tokenResponse.body;
    check(tr.patient === cfg.amy.id, "token response patient " + tr.patient);
    check(tr.need_patient_banner === false, "an EHR launch should not need the banner");
    // patient/ scopes write only as the patient: a practitioner in an EHR launch gets no form.
    check(await page.locator("#msg-form").isHidden(), "the send form must be hidden for staff with patient/ scopes");
    await shot(page, "b-ehr");
    noProblems(rec);
    return { tokenResponse: tr };
  },

  // (c) A wrong password shows an error on the login page and issues no code.
  async "wrong-password"(browser) {
    const { page, rec } = await newPage(browser);
    await startStandalone(page);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(cfg.origin + "/auth/authorize") && r.request().method() === "POST"),
      login(page, { username: cfg.patientUser.username, password: "not the password" }),
    ]);
    check(resp.status() === 401, "wrong password answered " + resp.status());
    const alert = page.getByRole("alert");
    await alert.waitFor();
    check(/Wrong username or password/.test(await alert.textContent()), "alert says: " + (await alert.textContent()));
    check((await page.getByLabel("Username").inputValue()) === cfg.patientUser.username, "the username should be kept");
    check((await page.getByLabel("Password").inputValue()) === "", "the password must not be sent back");
    check(new URL(page.url()).pathname === "/auth/authorize", "left the login page: " + page.url());
    check(rec.redirects.length === 0, "redirected to the app: " + rec.redirects.join(" "));
    check(rec.tokenRequests === 0, "a token was requested");
    await shot(page, "c-wrong-password");
    noProblems(rec);
    return {};
  },

  // (d) The login form without JavaScript, and the whole launch by keyboard only.
  async "nojs-keyboard"(browser) {
    // The demo itself needs JavaScript (the SMART client makes the PKCE challenge); take the
    // authorization URL it builds and open it in a context with JavaScript disabled.
    const js = await newPage(browser);
    await startStandalone(js.page);
    const authorizeURL = js.page.url();
    await js.context.close();

    const { page, rec, context } = await newPage(browser, { javaScriptEnabled: false });
    await page.goto(authorizeURL);
    await login(page, cfg.patientUser);
    await consentPage(page);
    const comm = page.getByRole("checkbox", { name: /Communication/ });
    await comm.uncheck();
    await shot(page, "d-nojs-consent");
    const [nav] = await Promise.all([
      page.waitForRequest((r) => r.isNavigationRequest() && r.url().startsWith(cfg.origin + "/demo/?")),
      allow(page),
    ]);
    const back = new URL(nav.url());
    check(back.searchParams.get("code"), "no code in the redirect: " + nav.url());
    check(back.searchParams.get("state") === new URL(authorizeURL).searchParams.get("state"), "state not echoed");
    await page.waitForLoadState();
    await shot(page, "d-nojs-redirect");
    await context.close();

    // Keyboard only: Tab to each control and press Enter or type; never click.
    const kb = await newPage(browser);
    const p = kb.page;
    async function tabTo(selector) {
      for (let i = 0; i < 40; i++) {
        if (await p.evaluate((s) => document.activeElement && document.activeElement.matches(s), selector)) return;
        await p.keyboard.press("Tab");
      }
      throw new Failure("cannot reach " + selector + " with Tab on " + p.url());
    }
    await p.goto(cfg.origin + "/demo/launch.html");
    await p.locator("#launch-form").waitFor();
    await tabTo("#sign-in");
    await p.keyboard.press("Enter");
    await p.waitForURL((u) => u.pathname === "/auth/authorize");
    await p.getByRole("heading", { name: "Sign in" }).waitFor();
    await tabTo("#username"); // autofocus puts it there already
    await p.keyboard.type(cfg.patientUser.username);
    await tabTo("#password");
    await p.keyboard.type(cfg.patientUser.password);
    await p.keyboard.press("Enter");
    await consentPage(p);
    await tabTo("button[value=allow]");
    await p.keyboard.press("Enter");
    await demoReady(p);
    expectPatient(await banner(p), cfg.peter);
    // Focus must be visible: the focused control gets the outline from the stylesheet.
    await tabTo("#msg-text");
    const outline = await p.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    check(outline !== "none", "focused control has no visible outline");
    await shot(p, "d-keyboard");
    noProblems(kb.rec);
    noProblems(rec);
    return { tokenResponse: kb.rec.tokenResponse.body };
  },

  // The newcomer's path: the user and data demo/seed.sh made, everything allowed.
  async seeded(browser) {
    const { page, rec } = await newPage(browser);
    await startStandalone(page);
    await login(page, cfg.seeded);
    await consentPage(page);
    await allow(page);
    await demoReady(page);
    const b = await banner(page);
    check(b.name === cfg.seeded.name, "banner shows " + b.name);
    check((await observationNames(page)).length === cfg.seeded.observations, "seeded Observations not all shown");
    check((await messageTexts(page)).length === cfg.seeded.messages, "seeded messages not all shown");
    await shot(page, "seeded");
    noProblems(rec);
    return { tokenResponse: rec.tokenResponse.body };
  },

  // (e) A practitioner, who may act for several patients, picks one in the patient picker.
  async picker(browser) {
    const { page, rec } = await newPage(browser);
    await startStandalone(page, "staff");
    await login(page, cfg.staffUser);
    await page.getByRole("heading", { name: "Choose a patient" }).waitFor();
    await page.getByLabel("Find a patient by name").fill(cfg.amy.family);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("heading", { name: "Choose a patient" }).waitFor();
    const choices = await page.getByRole("radio").count();
    check(choices >= 1, "the search found no patient");
    // "Shaw" is also the start of another clinic's patient's name: she is never offered.
    check(!(await page.locator("main").textContent()).includes("Shawcross"), "the picker offered another clinic's patient");
    await page.getByRole("radio", { name: new RegExp(cfg.amy.name) }).check();
    await page.getByRole("button", { name: "Continue" }).click();
    await consentPage(page);
    check((await page.locator("main").textContent()).includes(cfg.amy.name), "the consent page should name the chosen patient");
    await allow(page);
    await demoReady(page);
    expectPatient(await banner(page), cfg.amy);
    sameList(await observationNames(page), cfg.amy.observations, "Observations of the chosen patient");
    const tr = rec.tokenResponse.body;
    check(tr.patient === cfg.amy.id, "token response patient " + tr.patient);
    check(tr.scope.split(" ").includes("user/Observation.rs"), "granted scope lacks user/Observation.rs: " + tr.scope);
    sameList(await messageTexts(page), cfg.amy.messages, "messages of the chosen patient");
    // With user/ scopes, staff write as themselves, to the patient.
    const text = "Your results look fine. (sent from the browser test)";
    await page.getByLabel("Your message").fill(text);
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("Message sent.").waitFor();
    const from = await page.locator("#msg-list li", { hasText: text }).locator(".meta").textContent();
    check(/^From You/.test(from), "the new message should be from You: " + from);
    await shot(page, "e-picker");
    noProblems(rec);
    return { tokenResponse: tr, sent: text };
  },

  // The demo app on a second origin, with Portico started with --cors-origins naming it: it
  // reads the patient, searches, and sends a message (a write) across origins.
  async "cross-origin"(browser) {
    const { page, rec, fhir } = await crossOriginLaunch(browser);
    check(fhir.failed.length === 0 && fhir.corsErrors.length === 0,
      "FHIR calls blocked:\n" + [...fhir.failed, ...fhir.corsErrors].join("\n"));
    check((await page.locator("#status").textContent()).trim() === "", "status says: " + (await page.locator("#status").textContent()));
    expectPatient(await banner(page), cfg.peter);
    sameList(await observationNames(page), cfg.peter.observations, "Observations, latest first");
    sameList(await messageTexts(page), cfg.peter.messages, "messages");
    const text = "Sent from another origin (browser test)";
    await page.getByLabel("Your message").fill(text);
    await page.locator("#screening").waitFor(); // the screening Questionnaire, read cross-origin
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("Message sent.").waitFor();
    await page.locator("#msg-list li", { hasText: text }).waitFor();
    check(fhir.responses.includes("POST 201"), "no 201 answer to a POST: " + fhir.responses.join(", "));

    const raw = await rawCalls(page);
    const r = raw.read;
    check(r.status === 200 && r.resourceType === "Patient" && r.etag && r.lastModified,
      "read from the page: " + JSON.stringify(r) + " (ETag and Last-Modified must be exposed)");
    check(raw.missing.status === 404 && raw.missing.resourceType === "OperationOutcome", "404 from the page: " + JSON.stringify(raw.missing));
    check(raw.noToken.status === 401 && raw.noToken.resourceType === "OperationOutcome" && /^Bearer/.test(raw.noToken.challenge || ""),
      "401 from the page: " + JSON.stringify(raw.noToken) + " (its OperationOutcome and WWW-Authenticate must be readable)");
    check(raw.metadata.status === 200 && raw.metadata.resourceType === "CapabilityStatement", "metadata from the page: " + JSON.stringify(raw.metadata));
    await shot(page, "cors-allowed");
    noProblems(rec);
    return { tokenResponse: rec.tokenResponse.body, sent: text, fhir: fhir.responses };
  },

  // The same app and sign-in with Portico started without --cors-origins: the browser blocks
  // every FHIR call, reads and writes, and the app says so.
  async "cross-origin-blocked"(browser) {
    const { page, rec, fhir } = await crossOriginLaunch(browser);
    const status = (await page.locator("#status").textContent()).trim();
    check(/The patient could not be loaded/.test(status), "status says: " + status);
    check(await page.locator("#banner").isHidden(), "a patient banner is shown");
    for (const id of ["#obs-status", "#msg-status"]) {
      const t = await page.locator(id).textContent();
      check(/could not be loaded/.test(t), id + " says: " + t);
    }
    const text = "This message must not arrive (browser test)";
    await page.getByLabel("Your message").fill(text);
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText(/The message could not be sent/).waitFor();
    const raw = await rawCalls(page);
    for (const [name, r] of Object.entries(raw)) check(r.error, name + " from the page was readable: " + JSON.stringify(r));
    check(fhir.failed.length > 0 || fhir.corsErrors.length > 0, "no FHIR call was blocked");
    check(fhir.corsErrors.length > 0, "no console error names the CORS policy");
    await shot(page, "cors-blocked");
    noProblems(rec);
    return { tokenResponse: rec.tokenResponse.body, unsent: text, blocked: fhir.failed.length, corsErrors: fhir.corsErrors.slice(0, 3) };
  },
};

async function main() {
  const run = scenarios[scenario];
  if (!run) {
    console.error(`unknown scenario ${JSON.stringify(scenario)}; one of: ${Object.keys(scenarios).join(", ")}`);
    process.exit(2);
  }
  const browser = await chromium.launch({
    executablePath: cfg.chromium || "/usr/bin/chromium",
    headless: true,
    // --no-sandbox: the tests may run as root (CI), where Chromium's sandbox refuses to start.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  try {
    const result = await run(browser);
    console.log(JSON.stringify({ ok: true, scenario, ...result }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Failure ? "FAIL: " + e.message : e.stack || String(e));
  process.exit(1);
});
