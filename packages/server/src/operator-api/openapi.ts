import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance } from "fastify";
import { openApiInfo } from "./openapi-info.js";
import type { LoginService } from "../auth/login.js";
import { registerTunnelRoutes, type TunnelRouteDeps } from "../tunnels/routes.js";
import { registerLoginRoutes } from "./login-routes.js";
import { type AccessRouteDeps, registerAccessRoutes } from "./access-routes.js";
import { registerRoutes, type RouteDeps } from "./routes.js";
import { registerTemplateRoutes, type TemplateRouteDeps } from "./template-routes.js";
import { sharedSchemas } from "./schemas.js";

/** Registers the OpenAPI generator, the shared schemas, every route and GET /api/openapi.json. */
export async function configureRoutes(
  app: FastifyInstance,
  deps: RouteDeps & {
    tunnels?: Omit<TunnelRouteDeps, "deny">;
    login?: () => LoginService | undefined;
    access?: Omit<AccessRouteDeps, "deny">;
    templates?: Omit<TemplateRouteDeps, "deny">;
  },
): Promise<void> {
  await app.register(swagger, {
    openapi: openApiInfo,
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `schema-${i}`) },
  });
  for (const schema of sharedSchemas) app.addSchema(schema);
  registerRoutes(app, deps);
  registerAccessRoutes(app, { ...deps.access, deny: deps.deny });
  registerTemplateRoutes(app, { ...deps.templates, deny: deps.deny });
  registerLoginRoutes(app, deps.login ?? (() => undefined), deps.deny);
  registerTunnelRoutes(app, { relay: undefined, canOpen: () => false, ...deps.tunnels, deny: deps.deny });
  app.get("/api/openapi.json", { config: { auth: false }, schema: { hide: true } }, async () => app.swagger());
}

/**
 * The OpenAPI 3.1 document of the operator API, built from the route schemas without starting a
 * server (scripts/openapi.mjs writes it to docs/openapi.json).
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const app = Fastify({ logger: false });
  const unused = (): never => {
    throw new Error("not serving");
  };
  await configureRoutes(app, {
    things: unused as never,
    events: unused as never,
    auditHealth: unused,
    deny: unused,
    track: unused,
  });
  await app.ready();
  const doc = app.swagger() as unknown as Record<string, unknown>;
  await app.close();
  return doc;
}
