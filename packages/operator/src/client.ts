import { ErrorCode, OutpostError } from "@outpost/protocol";
import { type EventsOptions, type StreamItem, streamEvents } from "./events.js";
import type {
  ClearDesiredResponse,
  HealthResponse,
  InvokeServiceBody,
  InvokeServiceResponse,
  JsonValue,
  ListDevicesResponse,
  ListThingsResponse,
  ListTunnelsResponse,
  LoginBody,
  LoginResponse,
  LogoutResponse,
  OperationId,
  ReadPropertiesQuery,
  ReadPropertiesResponse,
  WhoamiResponse,
  WritePropertyResponse,
} from "./generated/api.js";
import type {
  CancelTransferResponse,
  GetTransferResponse,
  ListDeviceFilesResponse,
  ListRepositoryResponse,
  ListTransfersResponse,
  StartTransferBody,
  StartTransferResponse,
} from "./generated/api.js";
import type {
  AddAccessEntryBody,
  AddAccessEntryResponse,
  AddGroupBody,
  AddGroupMemberParams,
  AddGroupMemberResponse,
  AddGroupResponse,
  AddOrganizationBody,
  AddOrganizationResponse,
  AddUnitBody,
  AddUnitMemberParams,
  AddUnitMemberResponse,
  AddUnitParams,
  AddUnitResponse,
  ExplainAccessQuery,
  ExplainAccessResponse,
  GetAccessModelResponse,
  GrantVisibilityParams,
  GrantVisibilityResponse,
  RemoveAccessEntryParams,
  RemoveAccessEntryResponse,
  RemoveGroupMemberParams,
  RemoveGroupMemberResponse,
  RemoveGroupParams,
  RemoveGroupResponse,
  RemoveOrganizationParams,
  RemoveOrganizationResponse,
  RemoveUnitMemberParams,
  RemoveUnitMemberResponse,
  RemoveUnitParams,
  RemoveUnitResponse,
  RevokeVisibilityParams,
  RevokeVisibilityResponse,
} from "./generated/api.js";
import type {
  CreateTemplateBody,
  CreateTemplateResponse,
  CreateThingBody,
  CreateThingResponse,
  DeleteTemplateResponse,
  DeleteThingResponse,
  GetTemplateResponse,
  GetThingResponse,
  ListTemplatesResponse,
  UpdateTemplateBody,
  UpdateTemplateResponse,
  UpdateThingBody,
  UpdateThingResponse,
} from "./generated/api.js";
import { OPERATIONS } from "./generated/api.js";
import { type DownloadResult, downloadFile, type FileCopyOptions, type RepositoryFile, uploadFile } from "./files.js";
import { call, type Endpoint } from "./http.js";
import { type OpenTunnelOptions, OperatorTunnel } from "./tunnels/tunnel.js";

/** Options of {@link OperatorClient}. */
export interface OperatorClientOptions {
  /** Base URL of the operator API, e.g. https://127.0.0.1:8444. Must be https. */
  url: string;
  /** Operator bearer token (`opt_<id>_<secret>`). Never logged. */
  token?: string;
  /** PEM of the CA that signed the server's certificate. Default: Node's trusted roots. */
  ca?: string;
  /** How long to wait for the server to answer, in ms (device requests wait longer: see each call's timeoutMs). Default 30 000. */
  timeoutMs?: number;
}

/** Options every call takes. */
export interface CallOptions {
  /** Cancels the call: it rejects with OUTPOST_ABORTED. */
  signal?: AbortSignal;
}

/** Options of calls that wait for a device. */
export interface DeviceCallOptions extends CallOptions {
  /** How long the server waits for the device, in ms (1..600 000). Default: the server's. */
  timeoutMs?: number;
}

/** Options of {@link OperatorClient.writeProperty}. */
export interface WritePropertyOptions extends DeviceCallOptions {
  /** When the Thing is offline, how long the value is held as desired state, in ms (at most 30 days). Default: the server's (24 h). */
  expiresInMs?: number;
}

/** Options of {@link OperatorClient.readProperties}. */
export interface ReadPropertiesOptions extends DeviceCallOptions {
  /** Only these properties. Default: all. */
  names?: ReadPropertiesQuery["name"];
}

/**
 * Client of the Outpost operator API (docs/operator-api.md). Every method resolves with the
 * server's answer, typed from docs/openapi.json, or rejects with an OutpostError carrying the
 * server's stable code (OUTPOST_FORBIDDEN, OUTPOST_NOT_FOUND, ...); a server that cannot be reached
 * is OUTPOST_UNAVAILABLE, a TLS failure OUTPOST_TLS, no answer in time OUTPOST_TIMEOUT.
 */
export class OperatorClient {
  readonly #endpoint: Endpoint;

  constructor(options: OperatorClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new OutpostError(ErrorCode.InvalidConfig, `server URL ${JSON.stringify(options.url)} is not a URL`);
    }
    if (url.protocol !== "https:") {
      throw new OutpostError(ErrorCode.InvalidConfig, `server URL must start with https:// (got ${url.protocol}//)`);
    }
    this.#endpoint = { url, token: options.token, ca: options.ca, timeoutMs: options.timeoutMs ?? 30_000 };
  }

  /** Base URL of the server. */
  get url(): string {
    return this.#endpoint.url.origin;
  }

  /** GET /api/health (needs no token). */
  health(options: CallOptions = {}): Promise<HealthResponse> {
    return this.#call("health", {}, undefined, options);
  }

  /**
   * POST /api/login: a token for scripts (or a browser session) from a username and password; needs
   * no token (docs/authentication.md). A refused pair is OUTPOST_UNAUTHORIZED whatever the cause;
   * a locked-out username or address is OUTPOST_TOO_MANY_REQUESTS.
   */
  login(body: LoginBody, options: CallOptions = {}): Promise<LoginResponse> {
    return this.#call("login", {}, body, options);
  }

  /** POST /api/logout: revokes the login token this client uses. */
  logout(options: CallOptions = {}): Promise<LogoutResponse> {
    return this.#call("logout", {}, undefined, options);
  }

  /** GET /api/whoami: the operator the token belongs to. */
  whoami(options: CallOptions = {}): Promise<WhoamiResponse> {
    return this.#call("whoami", {}, undefined, options);
  }

  /** GET /api/devices: every device with its connection state (admin only). */
  listDevices(options: CallOptions = {}): Promise<ListDevicesResponse> {
    return this.#call("listDevices", {}, undefined, options);
  }

  /** GET /api/things: the Things the caller holds any permission on. */
  listThings(options: CallOptions = {}): Promise<ListThingsResponse> {
    return this.#call("listThings", {}, undefined, options);
  }

  /** GET /api/things/{thing}/properties: live from the device when online, else the last kept values. */
  readProperties(thing: string, options: ReadPropertiesOptions = {}): Promise<ReadPropertiesResponse> {
    const query = new URLSearchParams();
    for (const n of options.names ?? []) query.append("name", n);
    return this.#call("readProperties", { thing }, undefined, options, query);
  }

  /**
   * PUT /api/things/{thing}/properties/{name}: writes one property on the device. Resolves with
   * `state: "applied"` once the device confirmed it, or `state: "desired"` when the Thing is offline
   * and the server holds the value until its device reconnects (or the value expires).
   */
  writeProperty(
    thing: string,
    name: string,
    value: JsonValue,
    options: WritePropertyOptions = {},
  ): Promise<WritePropertyResponse> {
    const { expiresInMs, ...rest } = options;
    return this.#call(
      "writeProperty",
      { thing, name },
      { value, ...(expiresInMs !== undefined ? { expiresInMs } : {}) },
      rest,
    );
  }

  /** DELETE /api/things/{thing}/properties/{name}/desired: removes a desired value the server holds for an offline Thing. */
  clearDesired(thing: string, name: string, options: CallOptions = {}): Promise<ClearDesiredResponse> {
    return this.#call("clearDesired", { thing, name }, undefined, options);
  }

  /** POST /api/things/{thing}/services/{service}: invokes a service and resolves with its answer. */
  invokeService(
    thing: string,
    service: string,
    params: InvokeServiceBody = {},
    options: DeviceCallOptions = {},
  ): Promise<InvokeServiceResponse> {
    return this.#call("invokeService", { thing, service }, params, options);
  }

  /**
   * GET /api/events as an async iterable of property changes and device events. A cut stream is
   * reopened with Last-Event-ID, so within the server's replay buffer (docs/operator-api.md) no
   * event is lost or repeated; a `gap` item says when the server could not replay everything.
   * End it with `signal` or by leaving the loop.
   */
  events(options: EventsOptions = {}): AsyncGenerator<StreamItem> {
    return streamEvents(this.#endpoint, options);
  }

  /**
   * Opens an end-to-end encrypted tunnel session to a target on a device (docs/tunnels.md) over the
   * WebSocket GET /api/devices/{id}/tunnel; needs tunnel.open on the device. Rejects with
   * OUTPOST_FORBIDDEN (no permission, target not allowed, denied at the device), OUTPOST_TIMEOUT
   * (approval timed out), OUTPOST_UNAVAILABLE (device offline), OUTPOST_TOO_MANY_STREAMS (a limit),
   * OUTPOST_INTEGRITY (the device's answer did not verify against `deviceCa`).
   */
  openTunnel(options: OpenTunnelOptions): Promise<OperatorTunnel> {
    return OperatorTunnel.open(this.#endpoint, options);
  }

  /** GET /api/tunnels: open tunnel sessions (of one device, with `device`). */
  listTunnels(options: CallOptions & { device?: string } = {}): Promise<ListTunnelsResponse> {
    const query = new URLSearchParams();
    if (options.device !== undefined) query.set("device", options.device);
    return this.#call("listTunnels", {}, undefined, options, query);
  }

  /** DELETE /api/tunnels/{id}: closes a tunnel session (admin, or the operator who opened it). */
  async closeTunnel(id: string, options: CallOptions = {}): Promise<void> {
    await this.#call("closeTunnel", { id }, undefined, options);
  }

  /** PUT /api/devices/{device}/repository/{path}: uploads a local file (streamed) into the device's repository area. */
  uploadFile(device: string, path: string, localFile: string, options: FileCopyOptions = {}): Promise<RepositoryFile> {
    return uploadFile(this.#endpoint, device, path, localFile, options);
  }

  /** GET /api/devices/{device}/repository/{path}: downloads a repository file to `localFile` with its checksums. */
  downloadFile(
    device: string,
    path: string,
    localFile: string,
    options: FileCopyOptions = {},
  ): Promise<DownloadResult> {
    return downloadFile(this.#endpoint, device, path, localFile, options);
  }

  /** GET /api/devices/{device}/repository: the files of the device's repository area. */
  listRepository(device: string, options: CallOptions = {}): Promise<ListRepositoryResponse> {
    return this.#call("listRepository", { device }, undefined, options);
  }

  /** GET /api/devices/{device}/files: lists a directory of the device's virtual directories (live). */
  listDeviceFiles(device: string, path: string, options: CallOptions = {}): Promise<ListDeviceFilesResponse> {
    return this.#call("listDeviceFiles", { device }, undefined, options, new URLSearchParams({ path }));
  }

  /** POST /api/devices/{device}/transfers: queues a push or a pull. */
  startTransfer(device: string, body: StartTransferBody, options: CallOptions = {}): Promise<StartTransferResponse> {
    return this.#call("startTransfer", { device }, body, options);
  }

  /** GET /api/transfers: transfers with state and progress. */
  listTransfers(
    filter: { device?: string; active?: boolean } = {},
    options: CallOptions = {},
  ): Promise<ListTransfersResponse> {
    const q = new URLSearchParams();
    if (filter.device !== undefined) q.set("device", filter.device);
    if (filter.active !== undefined) q.set("active", String(filter.active));
    return this.#call("listTransfers", {}, undefined, options, q);
  }

  /** GET /api/transfers/{id}. */
  getTransfer(id: string, options: CallOptions = {}): Promise<GetTransferResponse> {
    return this.#call("getTransfer", { id }, undefined, options);
  }

  /** POST /api/transfers/{id}/cancel. */
  cancelTransfer(id: string, options: CallOptions = {}): Promise<CancelTransferResponse> {
    return this.#call("cancelTransfer", { id }, undefined, options);
  }

  /** GET /api/access: the whole access model (groups, entries, organizations, visibility; Administrators only). */
  getAccessModel(options: CallOptions = {}): Promise<GetAccessModelResponse> {
    return this.#call("getAccessModel", {}, undefined, options);
  }

  /** GET /api/access/explain: the decision for a principal, Thing and permission, and every entry that produced it. */
  explainAccess(query: ExplainAccessQuery = {}, options: CallOptions = {}): Promise<ExplainAccessResponse> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
    return this.#call("explainAccess", {}, undefined, options, q);
  }

  /** POST /api/access/entries: adds an Allow or Deny entry. */
  addAccessEntry(body: AddAccessEntryBody, options: CallOptions = {}): Promise<AddAccessEntryResponse> {
    return this.#call("addAccessEntry", {}, body, options);
  }

  /** DELETE /api/access/entries/{id}. */
  removeAccessEntry(params: RemoveAccessEntryParams, options: CallOptions = {}): Promise<RemoveAccessEntryResponse> {
    return this.#call("removeAccessEntry", { ...params }, undefined, options);
  }

  /** POST /api/access/groups. */
  addGroup(body: AddGroupBody, options: CallOptions = {}): Promise<AddGroupResponse> {
    return this.#call("addGroup", {}, body, options);
  }

  /** DELETE /api/access/groups/{group} (predefined groups cannot be removed). */
  removeGroup(params: RemoveGroupParams, options: CallOptions = {}): Promise<RemoveGroupResponse> {
    return this.#call("removeGroup", { ...params }, undefined, options);
  }

  /** PUT /api/access/groups/{group}/members/{member} (a device never joins Administrators). */
  addGroupMember(params: AddGroupMemberParams, options: CallOptions = {}): Promise<AddGroupMemberResponse> {
    return this.#call("addGroupMember", { ...params }, undefined, options);
  }

  /** DELETE /api/access/groups/{group}/members/{member}. */
  removeGroupMember(params: RemoveGroupMemberParams, options: CallOptions = {}): Promise<RemoveGroupMemberResponse> {
    return this.#call("removeGroupMember", { ...params }, undefined, options);
  }

  /** POST /api/access/organizations. */
  addOrganization(body: AddOrganizationBody, options: CallOptions = {}): Promise<AddOrganizationResponse> {
    return this.#call("addOrganization", {}, body, options);
  }

  /** DELETE /api/access/organizations/{org}. */
  removeOrganization(params: RemoveOrganizationParams, options: CallOptions = {}): Promise<RemoveOrganizationResponse> {
    return this.#call("removeOrganization", { ...params }, undefined, options);
  }

  /** POST /api/access/organizations/{org}/units. */
  addUnit(params: AddUnitParams, body: AddUnitBody, options: CallOptions = {}): Promise<AddUnitResponse> {
    return this.#call("addUnit", { ...params }, body, options);
  }

  /** DELETE /api/access/organizations/{org}/units/{unit}. */
  removeUnit(params: RemoveUnitParams, options: CallOptions = {}): Promise<RemoveUnitResponse> {
    return this.#call("removeUnit", { ...params }, undefined, options);
  }

  /** PUT /api/access/organizations/{org}/units/{unit}/members/{member}. */
  addUnitMember(params: AddUnitMemberParams, options: CallOptions = {}): Promise<AddUnitMemberResponse> {
    return this.#call("addUnitMember", { ...params }, undefined, options);
  }

  /** DELETE /api/access/organizations/{org}/units/{unit}/members/{member}. */
  removeUnitMember(params: RemoveUnitMemberParams, options: CallOptions = {}): Promise<RemoveUnitMemberResponse> {
    return this.#call("removeUnitMember", { ...params }, undefined, options);
  }

  /** PUT /api/access/organizations/{org}/units/{unit}/visible/{entity}: the entity becomes visible to the unit and the units above it. */
  grantVisibility(params: GrantVisibilityParams, options: CallOptions = {}): Promise<GrantVisibilityResponse> {
    return this.#call("grantVisibility", { ...params }, undefined, options);
  }

  /** DELETE /api/access/organizations/{org}/units/{unit}/visible/{entity}. */
  revokeVisibility(params: RevokeVisibilityParams, options: CallOptions = {}): Promise<RevokeVisibilityResponse> {
    return this.#call("revokeVisibility", { ...params }, undefined, options);
  }

  /** GET /api/templates: the templates visible to the caller on which it holds read. */
  listTemplates(options: CallOptions = {}): Promise<ListTemplatesResponse> {
    return this.#call("listTemplates", {}, undefined, options);
  }

  /** GET /api/templates/{template} (read). An invisible template answers 404 like one that does not exist. */
  getTemplate(template: string, options: CallOptions = {}): Promise<GetTemplateResponse> {
    return this.#call("getTemplate", { template }, undefined, options);
  }

  /** POST /api/templates (create on templates). */
  createTemplate(body: CreateTemplateBody, options: CallOptions = {}): Promise<CreateTemplateResponse> {
    return this.#call("createTemplate", {}, body, options);
  }

  /** PUT /api/templates/{template}: replaces its declaration (update). */
  updateTemplate(
    template: string,
    body: UpdateTemplateBody,
    options: CallOptions = {},
  ): Promise<UpdateTemplateResponse> {
    return this.#call("updateTemplate", { template }, body, options);
  }

  /** DELETE /api/templates/{template} (delete; refused with 409 while Things are made from it). */
  deleteTemplate(template: string, options: CallOptions = {}): Promise<DeleteTemplateResponse> {
    return this.#call("deleteTemplate", { template }, undefined, options);
  }

  /** POST /api/things: creates a Thing, from a template when `template` is given (create). */
  createThing(body: CreateThingBody, options: CallOptions = {}): Promise<CreateThingResponse> {
    return this.#call("createThing", {}, body, options);
  }

  /** GET /api/things/{thing}: its record with the template it was made from (read). */
  getThing(thing: string, options: CallOptions = {}): Promise<GetThingResponse> {
    return this.#call("getThing", { thing }, undefined, options);
  }

  /** PUT /api/things/{thing}: changes its description (update). */
  updateThing(thing: string, body: UpdateThingBody, options: CallOptions = {}): Promise<UpdateThingResponse> {
    return this.#call("updateThing", { thing }, body, options);
  }

  /** DELETE /api/things/{thing}: removes it with its values, entries and visibility (delete). */
  deleteThing(thing: string, options: CallOptions = {}): Promise<DeleteThingResponse> {
    return this.#call("deleteThing", { thing }, undefined, options);
  }

  #call<T>(
    op: OperationId,
    params: Record<string, string>,
    body: unknown,
    options: DeviceCallOptions,
    query = new URLSearchParams(),
  ): Promise<T> {
    const { method, path } = OPERATIONS[op];
    const resolved = path.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(params[k] ?? ""));
    if (options.timeoutMs !== undefined) query.set("timeoutMs", String(options.timeoutMs));
    const qs = query.toString();
    // A device may take up to timeoutMs to answer: wait that long plus a margin.
    const endpoint =
      options.timeoutMs !== undefined
        ? { ...this.#endpoint, timeoutMs: Math.max(this.#endpoint.timeoutMs, options.timeoutMs + 5_000) }
        : this.#endpoint;
    return call<T>(endpoint, method, qs ? `${resolved}?${qs}` : resolved, {
      ...(body !== undefined ? { body } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }
}
