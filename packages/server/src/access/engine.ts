import { CompiledModel, decide, decideInstances } from "./decide.js";
import {
  ADMINISTRATORS,
  type AccessPrincipal,
  type AccessRequest,
  type AccessSnapshot,
  type Decision,
  type EntityKind,
} from "./model.js";

/** Options for {@link AccessEngine}. */
export interface AccessEngineOptions {
  /** Reads the model as it is now. Called again after {@link AccessEngine.invalidate}. */
  load(): AccessSnapshot;
  /** Most decisions remembered; the cache starts over beyond it. Default 100 000. */
  maxCachedDecisions?: number;
}

/**
 * Decisions over the current model, remembered until the model changes. The owner of the model
 * (the registry) calls {@link invalidate} on every change it makes and whenever it sees that
 * another process changed it; a decision is therefore never older than the last change seen.
 * `load` throwing propagates out of every method (the caller then refuses).
 */
export class AccessEngine {
  readonly #load: () => AccessSnapshot;
  readonly #max: number;
  #model: CompiledModel | undefined;
  readonly #cache = new Map<string, boolean>();

  constructor(options: AccessEngineOptions) {
    this.#load = options.load;
    this.#max = options.maxCachedDecisions ?? 100_000;
  }

  /** Forgets the model and every decision. */
  invalidate(): void {
    this.#model = undefined;
    this.#cache.clear();
  }

  /** The compiled current model. */
  model(): CompiledModel {
    return (this.#model ??= new CompiledModel(this.#load()));
  }

  /** The full decision with the entries that produced it (not cached: for explain and audit). */
  decide(request: AccessRequest, entity?: EntityKind): Decision {
    return decide(this.model(), request, entity);
  }

  /** The decision at the template-instance level of template `request.target` (not cached: for explain). */
  decideInstances(request: AccessRequest): Decision {
    return decideInstances(this.model(), request);
  }

  /** Whether the request is allowed, from the cache when it was decided since the last change. */
  allows(request: AccessRequest, entity?: EntityKind): boolean {
    const p = request.principal;
    const key = `a\0${p.kind}\0${p.id}\0${(p.groups ?? []).join("\0")}\0${request.permission}\0${entity ?? ""}\0${request.target}\0${request.member ?? "\u0001"}\0${request.template ?? "\u0001"}`;
    return this.#remember(key, () => decide(this.model(), request, entity).allowed);
  }

  /** Whether the Thing, device or template `name` exists for `principal` (exists and is visible to it). */
  visible(principal: AccessPrincipal, kind: EntityKind, name: string): boolean {
    const key = `v\0${principal.kind}\0${principal.id}\0${(principal.groups ?? []).join("\0")}\0${kind}\0${name}`;
    return this.#remember(key, () => {
      const model = this.model();
      const state = model.principalState(principal);
      if (state !== "ok") return false;
      return (
        model.exists(kind, name) && model.visibility(principal, model.groupsOf(principal), kind, name) !== undefined
      );
    });
  }

  /** Whether an operator is a member of Administrators (stored or external membership). */
  isAdministrator(principal: AccessPrincipal): boolean {
    if (principal.kind !== "operator") return false;
    const key = `g\0${principal.id}\0${(principal.groups ?? []).join("\0")}`;
    return this.#remember(
      key,
      () =>
        this.model().principalState(principal) === "ok" && this.model().groupsOf(principal).includes(ADMINISTRATORS),
    );
  }

  #remember(key: string, compute: () => boolean): boolean {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const value = compute();
    if (this.#cache.size >= this.#max) this.#cache.clear();
    this.#cache.set(key, value);
    return value;
  }
}
