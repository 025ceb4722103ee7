// Starts Swagger UI on the element #swagger-ui, reading the document's URL from its
// data-spec-url attribute: no inline script, so the page runs under a strict CSP.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    // null: never send the document to the public validator service (no external origin).
    validatorUrl: null,
    displayOperationId: false,
    defaultModelsExpandDepth: 0,
    docExpansion: "list",
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
