/**
 * bearer.test.ts checks, without a running platform, that createAuctionClient's token option sends
 * "Authorization: Bearer <token>" on every protocol: a stand-in AuctionService on local servers
 * (HTTP/1.1 for Connect and gRPC-Web, h2c for gRPC, each on a random port) records the header it
 * gets and answers as the dispatcher's edge does (Unauthenticated without the right key).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createServer as createH2Server, type Http2Server, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { type ConnectRouter, Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuctionService, createAuctionClient, type Protocol } from "../src/client.js";

const key = "ak_test-key";
const seen: string[] = [];

function routes(router: ConnectRouter) {
  router.service(AuctionService, {
    getItem(req, ctx) {
      const header = ctx.requestHeader.get("authorization") ?? "";
      seen.push(header);
      if (header !== `Bearer ${key}`) {
        throw new ConnectError("missing or invalid credentials", Code.Unauthenticated);
      }
      return { item: { item: { id: req.id } } };
    },
  });
}

let h1: Server;
let h2: Http2Server;
// The gRPC transport keeps its HTTP/2 session open for the next call; close() alone would wait
// for it, and the test process would not exit.
const sessions = new Set<ServerHttp2Session>();
const urls = new Map<Protocol, string>();

/** listen starts server on a random loopback port and returns its base URL. */
async function listen(server: Server | Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

before(async () => {
  h1 = createServer(connectNodeAdapter({ routes }));
  h2 = createH2Server(connectNodeAdapter({ routes }));
  h2.on("session", (s: ServerHttp2Session) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const u1 = await listen(h1);
  urls.set("connect", u1).set("grpcweb", u1).set("grpc", await listen(h2));
});

after(() => {
  h1.closeAllConnections();
  h1.close();
  h2.close();
  for (const s of sessions) s.destroy();
});

for (const protocol of ["connect", "grpc", "grpcweb"] as const) {
  test(`the token is sent as a bearer credential over ${protocol}`, async () => {
    const url = urls.get(protocol)!;
    seen.length = 0;

    const got = await createAuctionClient(url, { protocol, token: key }).getItem({ id: "lamp-1" });
    assert.equal(got.item?.item?.id, "lamp-1");

    // A function is asked before every call (a refreshed OIDC token).
    let asked = 0;
    const fresh = createAuctionClient(url, { protocol, token: async () => (asked++, key) });
    await fresh.getItem({ id: "a" });
    await fresh.getItem({ id: "b" });
    assert.equal(asked, 2);

    // Without a token nothing is sent, and the refusal is a typed Unauthenticated.
    await assert.rejects(createAuctionClient(url, { protocol }).getItem({ id: "x" }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.Unauthenticated);
      return true;
    });
    assert.deepEqual(seen, [`Bearer ${key}`, `Bearer ${key}`, `Bearer ${key}`, ""]);
  });
}

test("a malformed token is refused before any call is made", async () => {
  seen.length = 0;
  for (const token of ["", "two words", () => ""]) {
    await assert.rejects(createAuctionClient(urls.get("connect")!, { token }).getItem({ id: "x" }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.InvalidArgument);
      return true;
    });
  }
  assert.deepEqual(seen, []);
});
