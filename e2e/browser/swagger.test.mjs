// swagger.test.mjs drives Swagger UI at <AUCTION_URL>/docs/ in Debian's
// headless Chromium as a person would: try POST /item/add before
// authorizing ("Try it out", edit the body, Execute, see 401), authorize with
// the API key (the Authorize button), add the item (see 202), then fetch it
// back with GET /item/fetch/{id} and see its name. It saves a screenshot to
// artifacts/swagger-ui.png (repo-relative) and exits non-zero, saying why, on
// any failure, including an error shown by the page or thrown in it.
//
// Run by services/devstack/stack/browser_test.go, which starts the platform
// and passes AUCTION_URL and AUCTION_TOKEN; by hand, with the dev stack's banner's export:
// AUCTION_URL=http://127.0.0.1:8080 AUCTION_TOKEN=ak_… node e2e/browser/swagger.test.mjs
// Environment: AUCTION_URL and AUCTION_TOKEN (required), CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT (default <repo>/artifacts/swagger-ui.png).
import { chromium } from "playwright-core";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const base = (process.env.AUCTION_URL || "").replace(/\/+$/, "");
const token = process.env.AUCTION_TOKEN || "";
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const screenshot = process.env.SCREENSHOT || resolve(here, "../../artifacts/swagger-ui.png");
const step = (msg) => console.log(`[swagger-ui] ${msg}`);

if (!base) {
  console.error("AUCTION_URL is not set (the dispatcher's base URL, e.g. http://127.0.0.1:8080)");
  process.exit(2);
}
if (!token) {
  console.error("AUCTION_TOKEN is not set (an API key of the platform; the dev stack prints one in its banner)");
  process.exit(2);
}
if (!existsSync(executablePath)) {
  console.error(`${executablePath} is missing: install Debian's Chromium (apt-get update && apt-get install -y chromium)`);
  process.exit(2);
}

const id = `e2e-${Date.now().toString(36)}`;
const item = {
  id,
  name: `Swagger lamp ${id}`,
  category: "CATEGORY_DECORATION",
  // The document says money in requests is an integer, so the UI sends a
  // JSON number (responses carry int64 as strings, protojson's mapping).
  priceCents: 1999,
  state: "STATE_GOOD",
  ageMonths: 12,
};

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const problems = [];
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (err) => problems.push(`uncaught error in the page: ${err.message}`));
  page.on("console", (msg) => {
    // The browser logs every 4xx answer as an error; a 404 of the item
    // while the worker has not stored it yet is expected.
    const from = msg.location()?.url || "";
    if (msg.type() === "error" && !from.startsWith(`${base}/item/`)) problems.push(`console error: ${msg.text()} (${from})`);
  });
  page.on("requestfailed", (req) => problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`));
  page.on("response", (res) => {
    // Only the page's own assets; API answers are checked through the UI.
    if (res.status() >= 400 && !new URL(res.url()).pathname.startsWith("/item/")) {
      problems.push(`${res.status()} for ${res.url()}`);
    }
  });

  step(`open ${base}/docs/`);
  await page.goto(`${base}/docs/`, { waitUntil: "load" });
  await page.locator(".swagger-ui .info .title").filter({ hasText: "Pawn shop auction API" }).waitFor();
  const add = page.locator("#operations-Items-AuctionService_AddItem");
  const get = page.locator("#operations-Items-AuctionService_GetItem");
  await add.waitFor();
  await checkNoErrorShown();

  step("POST /item/add before authorizing: expand, Try it out, fill the body, Execute, see 401");
  await add.locator(".opblock-summary").first().click();
  await add.getByRole("button", { name: "Try it out" }).click();
  const bodyField = add.locator("textarea.body-param__text");
  // The body offered is the document's example, which the API accepts as it
  // is (services/dispatcher/ports/jsondecode_test.go sends it): a real
  // category and state, money as a number.
  const offered = JSON.parse(await bodyField.inputValue());
  if (offered.category !== "CATEGORY_DECORATION" || offered.state !== "STATE_GOOD" || offered.priceCents !== 1999) {
    throw new Error(`Try it out offers ${JSON.stringify(offered)}, want the document's example`);
  }
  await bodyField.fill(JSON.stringify(item, null, 2));
  await add.getByRole("button", { name: "Execute" }).click();
  const addStatus = add.locator(".live-responses-table .response .response-col_status").first();
  await answerOrError(add, addStatus);
  const anonCode = (await addStatus.innerText()).trim();
  if (!anonCode.startsWith("401")) throw new Error(`POST /item/add without authorizing answered ${anonCode} in the UI, want 401`);
  step("POST /item/add without authorizing answered 401");
  await add.getByRole("button", { name: "Clear" }).click();
  await add.locator(".live-responses-table").waitFor({ state: "detached" });

  await authorize();

  step("POST /item/add after authorizing: Execute, see 202");
  await add.getByRole("button", { name: "Execute" }).click();
  await answerOrError(add, addStatus);
  const addCode = (await addStatus.innerText()).trim();
  const addBody = await add.locator(".live-responses-table .response-col_description pre").first().innerText();
  if (!addCode.startsWith("202")) throw new Error(`POST /item/add answered ${addCode} in the UI, want 202: ${addBody}`);
  if (!addBody.includes(id)) throw new Error(`POST /item/add response does not name item ${id}: ${addBody}`);
  step(`POST /item/add answered 202: ${addBody.replace(/\s+/g, " ")}`);

  step("GET /item/fetch/{id}: expand, Try it out, fill id, Execute (until the worker has stored it)");
  await get.locator(".opblock-summary").first().click();
  await get.getByRole("button", { name: "Try it out" }).click();
  await get.locator('tr[data-param-name="id"] input').fill(id);
  let getCode = "";
  let getBody = "";
  for (let attempt = 1; attempt <= 10; attempt++) {
    // Clear the previous answer so that the one awaited is this attempt's.
    const clear = get.getByRole("button", { name: "Clear" });
    if ((await clear.count()) > 0) {
      await clear.click();
      await get.locator(".live-responses-table").waitFor({ state: "detached" });
    }
    await get.getByRole("button", { name: "Execute" }).click();
    const status = get.locator(".live-responses-table .response .response-col_status").first();
    await answerOrError(get, status);
    getCode = (await status.innerText()).trim();
    getBody = await get.locator(".live-responses-table .response-col_description pre").first().innerText();
    if (getCode.startsWith("200") && getBody.includes(item.name)) break;
    step(`attempt ${attempt}: ${getCode.split("\n")[0]}; trying again`);
    await page.waitForTimeout(500);
  }
  if (!getCode.startsWith("200") || !getBody.includes(item.name)) {
    throw new Error(`GET /item/fetch/${id} answered ${getCode} in the UI without the item's name "${item.name}": ${getBody}`);
  }
  step(`GET /item/fetch/${id} answered 200 with "${item.name}"`);
  await checkNoErrorShown();
  await get.scrollIntoViewIfNeeded();
} catch (err) {
  problems.unshift(err.stack || String(err));
} finally {
  if (page) {
    try {
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      step(`screenshot: ${screenshot}`);
    } catch (err) {
      problems.push(`screenshot failed: ${err.message}`);
    }
  }
  await browser.close();
}

if (problems.length > 0) {
  console.error(`FAIL: ${problems.length} problem(s):\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
console.log("PASS: Swagger UI was refused before authorizing, then added an item and fetched it back");

// authorize opens the Authorize dialog and gives the API key to the scheme
// that carries it in the Authorization header: an apiKey scheme takes the
// header's whole value ("Bearer <key>"), an http bearer scheme the key alone.
// With several schemes the one named like an API key is chosen.
async function authorize() {
  step("Authorize: open the dialog, enter the API key, Apply credentials, Close");
  await page.locator(".swagger-ui .auth-wrapper button.authorize").click();
  const dialog = page.locator(".swagger-ui .modal-ux");
  await dialog.waitFor();
  // A scheme's block is the div whose own heading names its type.
  const keyBlocks = dialog.locator("xpath=.//div[h4[contains(., '(apiKey)')]]");
  const bearerBlocks = dialog.locator("xpath=.//div[h4[contains(., '(http, Bearer)')]]");
  let block;
  let value = `Bearer ${token}`;
  for (let i = 0; i < (await keyBlocks.count()); i++) {
    const heading = await keyBlocks.nth(i).locator("h4").first().innerText();
    if (!block || /key/i.test(heading.replace("(apiKey)", ""))) block = keyBlocks.nth(i);
  }
  if (!block && (await bearerBlocks.count()) > 0) {
    block = bearerBlocks.first();
    value = token;
  }
  if (!block) {
    const shown = (await dialog.innerText()).replace(/\s+/g, " ");
    throw new Error(`the Authorize dialog has no apiKey or http bearer scheme to take the key: ${shown}`);
  }
  const heading = (await block.locator("h4").first().innerText()).replace(/\s+/g, " ").trim();
  await block.locator("input").first().fill(value);
  await block.locator("xpath=ancestor::form[1]").getByRole("button", { name: "Apply credentials" }).click();
  await block.locator("h6", { hasText: "Authorized" }).waitFor();
  step(`authorized with ${heading}`);
  await dialog.getByRole("button", { name: "Close" }).first().click();
  await dialog.waitFor({ state: "detached" });
}

// checkNoErrorShown fails when Swagger UI shows an error instead of the
// document (a load or parse failure, or an error box).
async function checkNoErrorShown() {
  for (const sel of [".swagger-ui .errors-wrapper", ".swagger-ui .loading-container .errors", ".swagger-ui .version-pragma"]) {
    const shown = page.locator(sel);
    if ((await shown.count()) > 0 && (await shown.first().isVisible())) {
      throw new Error(`the page shows an error (${sel}): ${await shown.first().innerText()}`);
    }
  }
}

// answerOrError waits for an operation's answer, or fails at once with the
// validation errors Swagger UI shows instead of sending the request.
async function answerOrError(op, status) {
  const invalid = op.locator(".validation-errors");
  await status.or(invalid).first().waitFor();
  if (await invalid.isVisible()) {
    throw new Error(`Swagger UI refused to send the request: ${(await invalid.innerText()).replace(/\s+/g, " ")}`);
  }
}
