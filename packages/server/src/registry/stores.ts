/**
 * The registry's stores beside its core methods: the access model, templates, secret values,
 * operator credentials and the writes of a model import. Each store is named here by the methods
 * the rest of the server may call; registry/async-types.ts turns them into the asynchronous
 * contract, and the lists below tell the asynchronous SQLite view which methods to wrap.
 */
import type { SqliteAccess } from "./access-sql.js";
import type { SqliteCredentials } from "./credentials-sql.js";
import type { SqliteModelWrites } from "./model-sql.js";
import type { SecretValues } from "./secret-values.js";
import type { SqliteTemplates } from "./templates-sql.js";

/** The access model: groups, entries, organizations, units, visibility, and its decisions. */
export type AccessStore = Pick<SqliteAccess, keyof typeof ACCESS_METHODS>;
/** Thing templates, and Things created from them or removed. */
export type TemplateStore = Pick<SqliteTemplates, keyof typeof TEMPLATE_METHODS>;
/** Secret template properties: which are secret, and the data key they are sealed with. */
export type SecretStore = Pick<SecretValues, keyof typeof SECRET_METHODS>;
/** Operator passwords and login tokens. */
export type CredentialStore = Pick<SqliteCredentials, keyof typeof CREDENTIAL_METHODS>;
/** The writes a model import needs beyond the other stores (users, descriptions, unit parents). */
export type ModelWriteStore = Pick<SqliteModelWrites, keyof typeof MODEL_WRITE_METHODS>;

/** The stores of the synchronous embedded registry. */
export interface SyncStores {
  readonly access: AccessStore;
  readonly templates: TemplateStore;
  readonly secrets: SecretStore;
  readonly credentials: CredentialStore;
  readonly modelWrites: ModelWriteStore;
}

export const ACCESS_METHODS = {
  allows: true,
  decide: true,
  decideInstances: true,
  visible: true,
  isAdministrator: true,
  snapshot: true,
  listGroups: true,
  getGroup: true,
  createGroup: true,
  deleteGroup: true,
  addMember: true,
  removeMember: true,
  enrol: true,
  listEntries: true,
  addEntry: true,
  findEntry: true,
  removeEntry: true,
  listOrganizations: true,
  listUnits: true,
  createOrganization: true,
  deleteOrganization: true,
  createUnit: true,
  deleteUnit: true,
  addUnitMember: true,
  removeUnitMember: true,
  grantVisibility: true,
  revokeVisibility: true,
  listVisibility: true,
} as const satisfies Partial<Record<keyof SqliteAccess, true>>;

export const TEMPLATE_METHODS = {
  list: true,
  get: true,
  instances: true,
  create: true,
  update: true,
  delete: true,
  createThing: true,
  deleteThing: true,
  describeThing: true,
  getThing: true,
} as const satisfies Partial<Record<keyof SqliteTemplates, true>>;

export const SECRET_METHODS = {
  secretsOf: true,
  storedKeyId: true,
  keyId: true,
  rotate: true,
} as const satisfies Partial<Record<keyof SecretValues, true>>;

export const CREDENTIAL_METHODS = {
  setPassword: true,
  passwordHash: true,
  clearPassword: true,
  operator: true,
  ensureOperator: true,
  issue: true,
  check: true,
  revoke: true,
  revokeAll: true,
  listActive: true,
  purge: true,
} as const satisfies Partial<Record<keyof SqliteCredentials, true>>;

export const MODEL_WRITE_METHODS = {
  addUser: true,
  setDeviceDescription: true,
  setGroupDescription: true,
  setOrganizationDescription: true,
  setUnitParent: true,
} as const satisfies Partial<Record<keyof SqliteModelWrites, true>>;

/** Each store's method list, by store name. */
export const STORE_METHODS: { readonly [K in keyof SyncStores]: Readonly<Record<keyof SyncStores[K], true>> } = {
  access: ACCESS_METHODS,
  templates: TEMPLATE_METHODS,
  secrets: SECRET_METHODS,
  credentials: CREDENTIAL_METHODS,
  modelWrites: MODEL_WRITE_METHODS,
};
