// Hand-written (not copied by scripts/swaggerui.sh): starts Swagger UI on the
// OpenAPI document named by index.html (/openapi.json, served by the same
// dispatcher), so that "Try it out" calls the dispatcher that served the page.
//
// The document's security schemes are OpenAPI v2 apiKey schemes in the
// Authorization header (v2 has no bearer type), whose value is sent as typed;
// withBearer lets a person paste the bare key or token from the dev stack's
// banner into the Authorize dialog and still send "Bearer <credential>".
function withBearer(req) {
  for (const name of Object.keys(req.headers || {})) {
    const value = String(req.headers[name]).trim();
    if (name.toLowerCase() === "authorization" && value !== "" && !/^bearer\s/i.test(value)) {
      req.headers[name] = "Bearer " + value;
    }
  }
  return req;
}

window.onload = function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    displayRequestDuration: true,
    requestInterceptor: withBearer,
    // No validator badge: it would send the document to a public service.
    validatorUrl: null,
  });
};
