/** The fixed parts of the OpenAPI document; the paths come from the route schemas. */
export const openApiInfo = {
  openapi: "3.1.0",
  info: {
    title: "Outpost operator API",
    version: "0.1.0",
    description: "HTTPS JSON API of the Outpost reference server (docs/operator-api.md).",
  },
  components: {
    securitySchemes: {
      bearer: { type: "http", scheme: "bearer", description: "An operator token, opt_<id>_<secret>." },
      session: {
        type: "apiKey",
        in: "cookie",
        name: "outpost_session",
        description: "A browser session from POST /api/login; requests other than GET/HEAD also need X-Outpost-CSRF.",
      },
    },
  },
} as const;
