/**
 * client.test.ts uses the platform as a TypeScript program would, through
 * createAuctionClient, against the dispatcher at $AUCTION_URL with the API key
 * in $AUCTION_TOKEN (the Go test e2e/tsclient_test.go starts one and sets both).
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import {
  Category,
  Code,
  ConnectError,
  State,
  ViolationsSchema,
  WriteStatus,
  createAuctionClient,
  fieldViolations,
  type AuctionClient,
  type Protocol,
} from "../src/client.js";

const baseUrl = process.env.AUCTION_URL;
if (!baseUrl) {
  throw new Error("set AUCTION_URL to the dispatcher's base URL, for example http://127.0.0.1:8080");
}
const token = process.env.AUCTION_TOKEN;
if (!token) {
  throw new Error("set AUCTION_TOKEN to an API key of the platform (the dev stack's banner prints `export AUCTION_TOKEN=…`)");
}

/** eventually retries fn until it returns without throwing, for at most ms. */
async function eventually<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`not within ${ms} ms: ${String(err)}`, { cause: err });
      }
      await sleep(100);
    }
  }
}

const protocols: Protocol[] = ["connect", "grpc", "grpcweb"];

for (const protocol of protocols) {
  test(`add an item and fetch it over ${protocol}`, async () => {
    const client: AuctionClient = createAuctionClient(baseUrl, { protocol, token });
    const name = `Brass lamp ${protocol} ${Date.now()}`;
    const added = await client.addItem({
      name,
      category: Category.DECORATION,
      priceCents: 1999n,
      state: State.GOOD,
      ageMonths: 120,
    });
    assert.ok(added.itemId, "an item id is assigned");
    assert.ok(added.eventId);
    assert.equal(added.writeStatus, WriteStatus.PUBLISHED);

    // Stored asynchronously: the first read also waits for the consumer
    // group's first assignment, so poll, but within a bound.
    const got = await eventually(30_000, () => client.getItem({ id: added.itemId }));
    assert.equal(got.item?.item?.id, added.itemId);
    assert.equal(got.item?.item?.name, name);
    assert.equal(got.item?.item?.category, Category.DECORATION);
    assert.equal(got.item?.item?.priceCents, 1999n);

    const bought = await client.buyItem({ clientId: "alice", itemId: added.itemId, priceCents: 1500n });
    assert.ok(bought.eventId);
    const withBuy = await eventually(10_000, async () => {
      const r = await client.getItem({ id: added.itemId });
      assert.equal(r.item?.buys.length, 1);
      return r;
    });
    assert.equal(withBuy.item?.buys[0]?.clientId, "alice");

    const page = await client.listItems({ filter: { case: "name", value: name }, limit: 10 });
    assert.deepEqual(page.items.map((i) => i.item?.id), [added.itemId]);
  });
}

test("a validation error is a typed ConnectError naming every violated field", async () => {
  for (const protocol of protocols) {
    const client = createAuctionClient(baseUrl, { protocol, token });
    const err = await client
      .addItem({ name: "", category: Category.MOTOR, state: State.NEW, priceCents: -1n })
      .then(
        () => assert.fail(`${protocol}: an invalid item was accepted`),
        (e: unknown) => e,
      );
    assert.ok(err instanceof ConnectError, `${protocol}: ${String(err)} is not a ConnectError`);
    assert.equal(err.code, Code.InvalidArgument, protocol);

    // The detail, decoded with the generated schema.
    const details = err.findDetails(ViolationsSchema);
    assert.equal(details.length, 1, `${protocol}: one buf.validate.Violations detail`);
    const fields = details[0].violations.map((v) => v.field?.elements.map((e) => e.fieldName).join("."));
    assert.deepEqual(fields.sort(), ["name", "priceCents"], protocol);

    // The same through the helper.
    assert.deepEqual(
      fieldViolations(err).map((v) => `${v.field} ${v.ruleId}`).sort(),
      ["name string.min_len", "priceCents int64.gt_lte"],
      protocol,
    );
  }
});

test("an unknown item is NotFound", async () => {
  const client = createAuctionClient(baseUrl, { token });
  await assert.rejects(client.getItem({ id: "no-such-item" }), (err: unknown) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.NotFound);
    assert.deepEqual(fieldViolations(err), []);
    return true;
  });
});

test("without the token every protocol is refused as Unauthenticated", async () => {
  for (const protocol of protocols) {
    await assert.rejects(createAuctionClient(baseUrl, { protocol }).getItem({ id: "any-item" }), (err: unknown) => {
      assert.ok(err instanceof ConnectError, `${protocol}: ${String(err)}`);
      assert.equal(err.code, Code.Unauthenticated, protocol);
      return true;
    });
  }
});
