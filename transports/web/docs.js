// SPDX-License-Identifier: MIT
// Starts Swagger UI on the agent's own document; no validator badge (it would call the internet).
'use strict';
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: true,
});
