/**
 * example.ts is the README's TypeScript example, runnable as it stands:
 * `npm run example` compiles it with tsc and runs the JavaScript with Node
 * (Node 20 does not run .ts). It adds an item (the dispatcher assigns the id,
 * so every run adds a new one), buys it as client "dave" and fetches it with
 * its history, against the dispatcher at $AUCTION_URL with the API key in
 * $AUCTION_TOKEN (the dev stack's banner prints `export AUCTION_TOKEN=…`).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Category, Code, ConnectError, State, createAuctionClient, fieldViolations } from "../src/client.js";

const baseUrl = process.env.AUCTION_URL ?? "http://127.0.0.1:8080";
const token = process.env.AUCTION_TOKEN;
if (!token) {
  throw new Error("set AUCTION_TOKEN to the API key the dev stack prints (export AUCTION_TOKEN=ak_…)");
}

const client = createAuctionClient(baseUrl, { protocol: "grpc", token });

const added = await client.addItem({
  name: "Brass lamp",
  category: Category.DECORATION,
  priceCents: 1999n,
  state: State.GOOD,
  ageMonths: 120,
});
console.log(`added ${added.itemId} (event ${added.eventId})`);

const bought = await client.buyItem({ clientId: "dave", itemId: added.itemId, priceCents: 1500n });
console.log(`bought ${added.itemId} as dave (event ${bought.eventId})`);

// Writes are stored asynchronously (normally well under a second later):
// retry NotFound, and wait until the buy shows in the history.
const deadline = Date.now() + 30_000;
for (;;) {
  try {
    const got = await client.getItem({ id: added.itemId });
    if (got.item?.buys.length === 1) {
      const item = got.item.item;
      console.log(`fetched ${item?.id}: ${item?.name}, ${item?.priceCents} cents, bought by ${got.item.buys[0]?.clientId}`);
      break;
    }
  } catch (err) {
    if (!(err instanceof ConnectError && err.code === Code.NotFound)) {
      throw err;
    }
  }
  if (Date.now() > deadline) {
    throw new Error(`item ${added.itemId} with its buy was not stored within 30 s`);
  }
  await sleep(100);
}

// An invalid request fails with InvalidArgument, naming every violated field.
try {
  await client.addItem({ name: "", category: Category.MOTOR, state: State.NEW, priceCents: -1n });
  throw new Error("an invalid item was accepted");
} catch (err) {
  if (!(err instanceof ConnectError && err.code === Code.InvalidArgument)) {
    throw err;
  }
  for (const v of fieldViolations(err)) {
    console.log(`refused: ${v.field}: ${v.message}`);
  }
}
