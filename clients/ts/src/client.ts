/**
 * client.ts is the typed entry point to the auction platform for TypeScript
 * on Node.js: it wires the generated Connect-ES service (../../gen/ts) to a
 * transport for the protocol you choose, and reads the field violations of a
 * validation error, so callers never handle wire formats themselves.
 */
import { type Client, type Interceptor, Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { AuctionService } from "../../../gen/ts/auction/v1/auction_pb.js";
import { type FieldPath, ViolationsSchema } from "../../../gen/ts/buf/validate/validate_pb.js";

export { Code, ConnectError } from "@connectrpc/connect";
export { AuctionService, WriteStatus } from "../../../gen/ts/auction/v1/auction_pb.js";
export { Category, State } from "../../../gen/ts/auction/v1/item_pb.js";
export { ViolationsSchema } from "../../../gen/ts/buf/validate/validate_pb.js";

/** Protocol is the wire protocol; the dispatcher serves all three on one port. */
export type Protocol = "connect" | "grpc" | "grpcweb";

/** AuctionClientOptions tune createAuctionClient; every field is optional. */
export interface AuctionClientOptions {
  /** protocol to speak (default "connect"); "grpc" uses HTTP/2, cleartext (h2c) for http:// URLs. */
  protocol?: Protocol;
  /** useBinaryFormat sends protobuf instead of JSON (default false: JSON, readable in logs). */
  useBinaryFormat?: boolean;
  /** timeoutMs is the deadline of every call unless the call sets its own (default 10 s). */
  timeoutMs?: number;
  /** interceptors run around every call, e.g. to set an X-Request-Id header. */
  interceptors?: Interceptor[];
  /**
   * token is the credential sent on every call as "Authorization: Bearer <token>": an API key
   * (ak_…; the dev stack prints one in its banner as `export AUCTION_TOKEN=…`) or an OIDC access
   * token. A function is called before every call, so that a token that expires can be refreshed.
   * Without it no credential is sent, and a dispatcher with authentication on answers
   * Code.Unauthenticated.
   */
  token?: string | (() => string | Promise<string>);
}

/**
 * bearerInterceptor sends token as "Authorization: Bearer <token>" on every call; it is what the
 * token option installs, exported for transports built by hand.
 */
export function bearerInterceptor(token: string | (() => string | Promise<string>)): Interceptor {
  return (next) => async (req) => {
    const value = (typeof token === "function" ? await token() : token).trim();
    if (value === "" || /\s/.test(value)) {
      throw new ConnectError("the token must be one non-empty word (an API key or a JWT)", Code.InvalidArgument);
    }
    req.header.set("Authorization", `Bearer ${value}`);
    return next(req);
  };
}

/** AuctionClient has one typed method per RPC of auction.v1.AuctionService. */
export type AuctionClient = Client<typeof AuctionService>;

/**
 * createAuctionClient returns a client of the dispatcher at baseUrl (for
 * example http://127.0.0.1:8080).
 */
export function createAuctionClient(baseUrl: string, options: AuctionClientOptions = {}): AuctionClient {
  const common = {
    baseUrl,
    useBinaryFormat: options.useBinaryFormat ?? false,
    defaultTimeoutMs: options.timeoutMs ?? 10_000,
    // The credential first (outermost), so that the caller's interceptors see the call as it is sent.
    interceptors: [...(options.token !== undefined ? [bearerInterceptor(options.token)] : []), ...(options.interceptors ?? [])],
  };
  const protocol = options.protocol ?? "connect";
  switch (protocol) {
    case "connect":
      return createClient(AuctionService, createConnectTransport({ ...common, httpVersion: "1.1" }));
    case "grpc":
      return createClient(AuctionService, createGrpcTransport(common));
    case "grpcweb":
      return createClient(AuctionService, createGrpcWebTransport({ ...common, httpVersion: "1.1" }));
    default:
      throw new Error(`unknown protocol ${String(protocol satisfies never)}: want connect, grpc or grpcweb`);
  }
}

/** FieldViolation is one violated rule of a refused request. */
export interface FieldViolation {
  /** field is the path of the field in the request, e.g. "priceCents" (the JSON name). */
  field: string;
  /** message says what is wrong, e.g. "must be greater than 0". */
  message: string;
  /** ruleId names the rule, e.g. "int64.gt_lte". */
  ruleId: string;
}

/**
 * fieldViolations reads the buf.validate.Violations detail of an
 * InvalidArgument error: every violated field, not only the first. It returns
 * an empty list for other errors.
 */
export function fieldViolations(err: unknown): FieldViolation[] {
  return ConnectError.from(err)
    .findDetails(ViolationsSchema)
    .flatMap((d) => d.violations)
    .map((v) => ({ field: fieldPathString(v.field), message: v.message, ruleId: v.ruleId }));
}

/** fieldPathString renders a field path as protovalidate does: a.b[0].c["k"]. */
function fieldPathString(path: FieldPath | undefined): string {
  return (path?.elements ?? [])
    .map((e) => {
      const s = e.subscript;
      switch (s.case) {
        case undefined:
          return e.fieldName;
        case "stringKey":
          return `${e.fieldName}[${JSON.stringify(s.value)}]`;
        default:
          return `${e.fieldName}[${String(s.value)}]`;
      }
    })
    .join(".");
}
