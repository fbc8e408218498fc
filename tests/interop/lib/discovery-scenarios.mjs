// Discovery (issue 23): the `bazaar` declarations in our 402s against what the official
// @x402/extensions builds for the same configuration, a facilitator's cataloguing of the
// official client's payment, and the generated `/.well-known/x402.json` and `/openapi.json`
// (the latter checked by an OpenAPI 3.1 schema validator). A target with `discovery` (its base
// URL) serves the routes of configs/gateway-proxy.yaml: `/forecast` (GET), `/search` (POST)
// and `/users/*/report`.

import { Validator } from "@seriousme/openapi-schema-validator";
import {
  bazaarResourceServerExtension,
  declareDiscoveryExtension,
  extractDiscoveryInfo,
  validateDiscoveryExtension,
} from "@x402/extensions/bazaar";

import { decodePaymentRequiredHeader, v2Core } from "./clients.mjs";
import { canonical, challenge, check } from "./scenarios.mjs";

const withDiscovery = (target) => Boolean(target.discovery);

/** The decoded PAYMENT-REQUIRED of an unpaid `method` request to `url` (must be 402). */
async function challengeFor(method, url) {
  if (method === "GET") return challenge(url);
  const response = await fetch(url, { method, headers: { "content-type": "application/json" }, body: "{}" });
  await response.arrayBuffer();
  check(response.status === 402, `unpaid ${method} ${url}: ${response.status}, expected 402`);
  return decodePaymentRequiredHeader(response.headers.get("payment-required"));
}

/** What the official server sends for `config` on a `method` request to `path` of `pattern`. */
function official(config, method, path, pattern) {
  const declared = declareDiscoveryExtension(config).bazaar;
  const context = { method, routePattern: pattern, adapter: { getPath: () => path } };
  return bazaarResourceServerExtension.enrichDeclaration(declared, context);
}

/** The routes of configs/gateway-proxy.yaml that declare `bazaar`, as the official SDK takes them. */
const DECLARED = [
  {
    method: "GET",
    path: "/forecast",
    pattern: "/forecast",
    config: {
      input: { city: "Paris" },
      inputSchema: { properties: { city: { type: "string" } }, required: ["city"] },
      output: { example: { city: "Paris", forecast: "sunny" }, schema: { properties: { forecast: { type: "string" } } } },
    },
  },
  {
    method: "POST",
    path: "/search",
    pattern: "/search",
    config: {
      bodyType: "json",
      input: { query: "rust" },
      inputSchema: { properties: { query: { type: "string" } }, required: ["query"] },
      output: { example: { results: [] } },
    },
  },
  { method: "GET", path: "/users/alice/report", pattern: "/users/*/report", config: {} },
];

export const DISCOVERY_SCENARIOS = [
  {
    name: "bazaar: 402 declaration = declareDiscoveryExtension + enrichDeclaration",
    applies: withDiscovery,
    async run(_ctx, target) {
      for (const route of DECLARED) {
        const ours = (await challengeFor(route.method, `${target.discovery}${route.path}`)).extensions?.bazaar;
        check(ours, `${route.method} ${route.path}: no bazaar declaration`);
        const theirs = official(route.config, route.method, route.path, route.pattern);
        // The official server also puts the request's own path values in `info.input.pathParams`;
        // our 402 is built once per route, so it declares the template and no values.
        if (theirs.info.input.pathParams) delete theirs.info.input.pathParams;
        check(
          canonical(ours) === canonical(theirs),
          `${route.method} ${route.path} differs:\n  ours:     ${canonical(ours)}\n  official: ${canonical(theirs)}`,
        );
        const valid = validateDiscoveryExtension(ours);
        check(valid.valid, `${route.path}: validateDiscoveryExtension: ${valid.errors?.join("; ")}`);
      }
      return `${DECLARED.length} routes (GET query, POST body, *-segment template) equal`;
    },
  },
  {
    name: "bazaar: the official client's payment is catalogued (extractDiscoveryInfo)",
    applies: withDiscovery,
    async run(ctx, target) {
      const url = `${target.discovery}/users/alice/report`;
      const required = await challenge(url);
      const payload = await v2Core(ctx.payer.account, ctx.network).createPaymentPayload(required);
      const found = extractDiscoveryInfo(payload, required.accepts[0]);
      check(found, `extractDiscoveryInfo found nothing in the official client's payload`);
      const expected = `${new URL(url).origin}/users/:var1/report`;
      check(found.resourceUrl === expected, `catalogued as ${found.resourceUrl}, expected ${expected}`);
      check(found.method === "GET", `catalogued method ${found.method}`);
      return `catalogued ${found.resourceUrl} (${found.method})`;
    },
  },
  {
    name: "discovery: /openapi.json is valid OpenAPI 3.1, x-payment-info per paid operation",
    applies: withDiscovery,
    async run(_ctx, target) {
      const response = await fetch(`${target.discovery}/openapi.json`);
      check(response.status === 200, `GET /openapi.json: ${response.status}`);
      const document = await response.json();
      const result = await new Validator().validate(document);
      check(result.valid, `not valid OpenAPI: ${String(JSON.stringify(result.errors)).slice(0, 600)}`);
      check(document.openapi === "3.1.0", `openapi ${document.openapi}`);
      const operations = Object.values(document.paths).flatMap((item) => Object.values(item));
      for (const op of operations) {
        check(op["x-payment-info"]?.protocols?.[0]?.x402, `an operation without x-payment-info: ${op.summary}`);
        check(op.responses?.["402"], `an operation without a 402 response`);
      }
      const forecast = document.paths["/forecast"]?.get;
      check(
        canonical(forecast?.["x-payment-info"]?.price) === canonical({ mode: "fixed", currency: "USD", amount: "0.001" }),
        `/forecast price ${JSON.stringify(forecast?.["x-payment-info"])}`,
      );
      check(document.paths["/users/{var1}/report"]?.get, `no /users/{var1}/report operation`);
      check(!document.paths["/health"], `the free /health is listed`);
      return `valid; ${operations.length} paid operations on ${Object.keys(document.paths).length} paths`;
    },
  },
  {
    name: "discovery: /.well-known/x402.json items = each route's live 402",
    applies: withDiscovery,
    async run(_ctx, target) {
      const response = await fetch(`${target.discovery}/.well-known/x402.json`);
      check(response.status === 200, `GET /.well-known/x402.json: ${response.status}`);
      const manifest = await response.json();
      check(manifest.x402Version === 2, `x402Version ${manifest.x402Version}`);
      const byUrl = new Map(manifest.items.map((item) => [`${item.input.method} ${item.resource.url}`, item]));
      for (const route of DECLARED) {
        const key = `${route.method} ${target.discovery}${route.pattern.replace("*", ":var1")}`;
        const item = byUrl.get(key);
        check(item, `no item ${key}; items: ${[...byUrl.keys()].join(", ")}`);
        const live = await challengeFor(route.method, `${target.discovery}${route.path}`);
        check(
          canonical(item.accepts) === canonical(live.accepts),
          `${key}: accepts differ from the live 402:\n  manifest: ${canonical(item.accepts)}\n  402:      ${canonical(live.accepts)}`,
        );
      }
      check(!manifest.items.some((i) => i.resource.url.endsWith("/health")), "the free /health is listed");
      return `${manifest.items.length} items; the declared routes' accepts equal their 402s`;
    },
  },
];
