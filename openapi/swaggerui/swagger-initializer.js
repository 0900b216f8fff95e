// Hand-written (not copied by scripts/swaggerui.sh): starts Swagger UI on the
// OpenAPI document named by index.html (/openapi.json, served by the same
// dispatcher), so that "Try it out" calls the dispatcher that served the page.
window.onload = function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    displayRequestDuration: true,
    // No validator badge: it would send the document to a public service.
    validatorUrl: null,
  });
};
