export type {
  CallOptions,
  DeviceCallOptions,
  OperatorClientOptions,
  ReadPropertiesOptions,
  WritePropertyOptions,
} from "./client.js";
export { OperatorClient } from "./client.js";
export type {
  DesiredEvent,
  DeviceEvent,
  EventsOptions,
  GapEvent,
  PropertyChangeEvent,
  ReconnectingEvent,
  StreamItem,
} from "./events.js";
export type {
  ClearDesiredResponse,
  DesiredProperty,
  Device,
  ErrorBody,
  HealthResponse,
  InvokeServiceResponse,
  JsonValue,
  ListDevicesResponse,
  ListThingsResponse,
  LoginBody,
  LoginResponse,
  LogoutResponse,
  OperationId,
  Property,
  ReadPropertiesResponse,
  Thing,
  WhoamiResponse,
  WritePropertyResponse,
} from "./generated/api.js";
export { OPERATIONS } from "./generated/api.js";
export type { ListTunnelsResponse } from "./generated/api.js";
export type { OpenTunnelOptions } from "./tunnels/tunnel.js";
export { OperatorTunnel } from "./tunnels/tunnel.js";
export { ErrorCode, isOutpostError, OutpostError } from "@outpost/protocol";
