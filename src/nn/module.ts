// Module: a tree of named parameters, buffers and child modules, like torch.nn.Module. Names are
// stable and dotted (`h.0.attn.c_attn.weight`), in registration order; a parameter reachable under
// two names (weight tying) is listed once, under the first. Buffers are state that is saved with
// the model but not trained (a pruning mask); stateDict() holds the parameters only.
import '../ops/index.js'; // every op's Tensor method (x.gelu(), x.astype(), ...) is attached before models run
import { tensor, Tensor } from '../ops/index.js';
import { checkBoolean, describeValue } from '../tensor/check.js';
import { isNumericArray } from '../tensor/create.js';
import { modeChosen } from './eval-mode.js';
import { formatShape } from '../tensor/shape.js';

/** Host values of one tensor: what loadStateDict() takes for each name (Int8Array for an int8 tensor). */
export interface TensorData {
  shape: readonly number[];
  data: Float32Array | Int8Array;
}

/** That `src` is host values, not a tensor (another model's stateDict() holds its GPU tensors) or something else. */
function checkTensorData(name: string, src: unknown, p: Tensor): asserts src is TensorData {
  const allowed = `loadStateDict: '${name}' must be { shape, data } host values for ${p.describe()}`;
  if (src instanceof Tensor) throw new TypeError(`${allowed}, got ${describeValue(src)} (read it with toArray(), or copy a model with stateDictFromSafetensors(await stateDictToSafetensors(other)).state)`);
  const { shape, data } = (src ?? {}) as Partial<TensorData>;
  if (!Array.isArray(shape) || !(ArrayBuffer.isView(data) || Array.isArray(data))) throw new TypeError(`${allowed}, got ${describeValue(src)}`);
  // checked with the rest, so that a refused state dict leaves every parameter as it was
  if (!shape.every(Number.isSafeInteger)) throw new TypeError(`loadStateDict: '${name}' must have a shape of integers, got ${describeValue(shape)}`);
  if (!isNumericArray(data) && !Array.isArray(data)) throw new TypeError(`loadStateDict: '${name}' must hold numbers (a typed array of numbers, or an array), got ${describeValue(data)}`);
  const notNumber = Array.isArray(data) ? data.findIndex((v) => typeof v !== 'number') : -1;
  if (notNumber >= 0) throw new TypeError(`loadStateDict: '${name}' must hold numbers, got ${describeValue(data[notNumber])} at [${notNumber}]`);
}

/**
 * That a registered name is one segment of a dotted name: 'a.weight' beside a child 'a' with its own
 * 'weight' was listed twice under one name, and stateDict() kept one of the two.
 */
function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || name === '' || name.includes('.')) {
    throw new TypeError(`Module: ${kind} name must be a non-empty string without '.' (dots join the names of nested modules), got ${typeof name === 'string' ? `'${name}'` : describeValue(name)}`);
  }
  return name;
}

/** That `value`, registered as `kind` `name`, is a `Kind` (an array or a plain object fails later, unnamed: at every walk of the tree, dispose() included). */
function checkRegistered(kind: string, name: string, value: unknown, Kind: abstract new (...args: never[]) => unknown, allowed: string): void {
  if (!(value instanceof Kind)) throw new TypeError(`Module: ${kind} '${name}' must be ${allowed}, got ${describeValue(value)}`);
}

/** That `src` can be loaded into the parameter `name`, `p` (loadStateDict's check of each entry): host values of its shape and kind. */
export function checkStateEntry(name: string, src: unknown, p: Tensor): asserts src is TensorData {
  if (p.isDisposed) throw new Error(`loadStateDict: '${name}' ${p.describe()} was disposed (Module.dispose frees every parameter); load into a module not disposed`);
  checkTensorData(name, src, p);
  if (src.shape.length !== p.shape.length || src.shape.some((d, i) => d !== p.shape[i])) {
    throw new Error(`loadStateDict: '${name}' has shape ${formatShape(src.shape)}, the model expects ${p.describe()}`);
  }
  if ((src.data instanceof Int8Array) !== (p.dtype === 'int8')) {
    throw new Error(`loadStateDict: '${name}' holds ${src.data instanceof Int8Array ? 'int8' : 'float'} values, the model expects ${p.describe()}`);
  }
  if (src.data.length !== p.size) throw new RangeError(`loadStateDict: '${name}' has ${src.data.length} values for shape ${formatShape(src.shape)} (${p.size})`);
}

/** Uploads `src` (checkStateEntry's) into the parameter `p`, in its dtype: float values into a float16 one are rounded as a cast would. */
export function loadValues(src: TensorData, p: Tensor): void {
  const t = p.dtype === 'int8' ? tensor(src.data, p.shape) : tensor(src.data, p.shape, p.dtype);
  p.assign(t);
  t.dispose();
}

/** A tree of named parameters and child modules (torch.nn.Module): subclasses register them with param() and module(). */
export abstract class Module {
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly childModules = new Map<string, Module>();
  private readonly ownBuffers = new Map<string, Tensor>();
  /** Those of ownParams registered by constant(): never trained, whatever requiresGrad_ asks. */
  private readonly ownConstants = new Set<Tensor>();

  /** Registers a trainable parameter (sets requiresGrad) and returns it: a leaf, as PyTorch's nn.Parameter always is. */
  protected param(name: string, t: Tensor): Tensor {
    checkName('parameter', name);
    checkRegistered('parameter', name, t, Tensor, 'a Tensor');
    if (this.ownParams.has(name) || this.childModules.has(name)) throw new Error(`Module: '${name}' registered twice`);
    // backward would hand its gradient on to the tensors it was computed from, never to its .grad
    if (t.gradFn) throw new Error(`Module: parameter '${name}' ${t.describe()} was computed by '${t.gradFn.opName}' from tensors that require grad: it would never get a .grad of its own; register a leaf (.detach() of it)`);
    t.requiresGrad_();
    this.ownParams.set(name, t);
    return t;
  }

  /**
   * Registers a tensor that is saved, loaded and freed with the parameters but not trained (an int8
   * weight and its scales): listed by namedParameters(), never set to require grad.
   */
  protected constant(name: string, t: Tensor): Tensor {
    checkName('constant', name);
    checkRegistered('constant', name, t, Tensor, 'a Tensor');
    if (this.ownParams.has(name) || this.childModules.has(name)) throw new Error(`Module: '${name}' registered twice`);
    this.ownParams.set(name, t);
    this.ownConstants.add(t);
    return t;
  }

  /**
   * Removes the parameter or child module `name` (registered by this module) and returns it, not
   * freed: the caller's now (a LoRA adapter merged into its weight).
   */
  protected unregister(name: string): Tensor | Module {
    const found = this.ownParams.get(name) ?? this.childModules.get(name);
    if (!found) throw new Error(`Module: no parameter or module '${name}' to remove`);
    this.ownParams.delete(name);
    this.childModules.delete(name);
    return found;
  }

  /** Sets buffer `name` (not trained; the module owns and frees it), or with null frees and removes it. */
  protected setBuffer(name: string, t: Tensor | null): void {
    checkName('buffer', name);
    if (t !== null) checkRegistered('buffer', name, t, Tensor, 'a Tensor or null');
    if (this.ownParams.has(name) || this.childModules.has(name)) throw new Error(`Module: buffer '${name}' would shadow a parameter or module`);
    const old = this.ownBuffers.get(name);
    if (old !== t) old?.dispose(); // setting the buffer it holds keeps it
    if (t) this.ownBuffers.set(name, t);
    else this.ownBuffers.delete(name);
  }

  protected buffer(name: string): Tensor | null {
    return this.ownBuffers.get(name) ?? null;
  }

  /** Registers a child module and returns it. */
  protected module<M extends Module>(name: string, m: M): M {
    checkName('module', name);
    checkRegistered('module', name, m, Module, 'a Module');
    if (this.ownParams.has(name) || this.childModules.has(name)) throw new Error(`Module: '${name}' registered twice`);
    this.childModules.set(name, m);
    return m;
  }

  /**
   * Throws for a field holding a module (alone or in an array) or a trainable tensor that was not
   * registered: PyTorch registers them on assignment, and here they would be left out of
   * parameters(), stateDict() and train()/eval() without a word.
   */
  private checkFieldsRegistered(): void {
    // what this module and its descendants registered: a field may alias a descendant's (weight
    // tying, PyTorch's self.head = self.emb.weight; a layer of a list), which is trained and saved
    let tree: { modules: Set<Module>; params: Set<Tensor> } | null = null;
    const registered = () => (tree ??= this.registeredTree());
    const where = (field: string) => `Module: ${this.constructor.name}.${field}`;
    const purpose = 'so that it is trained, saved and switched by train()/eval()';
    for (const [field, value] of Object.entries(this)) {
      if (value instanceof Module && !registered().modules.has(value)) {
        throw new Error(`${where(field)} holds a ${value.constructor.name} that is not registered; assign it with this.module('${field}', ...), ${purpose}`);
      }
      if (Array.isArray(value)) {
        const i = value.findIndex((v) => v instanceof Module && !registered().modules.has(v));
        if (i >= 0) throw new Error(`${where(`${field}[${i}]`)} holds a ${value[i].constructor.name} that is not registered; hold the list in this.module('${field}', new ModuleList([...])), ${purpose}`);
      }
      if (value instanceof Tensor && value.requiresGrad && !value.gradFn && !registered().params.has(value)) {
        throw new Error(`${where(field)} holds a ${value.describe()} tensor that requires grad but is not registered; assign it with this.param('${field}', ...), so that it is trained and saved`);
      }
    }
  }

  /** The modules below this one and the parameters of all of them, walked without the field checks (which use it). */
  private registeredTree(tree = { modules: new Set<Module>(), params: new Set<Tensor>() }): { modules: Set<Module>; params: Set<Tensor> } {
    for (const p of this.ownParams.values()) tree.params.add(p);
    for (const child of this.childModules.values()) {
      tree.modules.add(child);
      child.registeredTree(tree);
    }
    return tree;
  }

  *namedParameters(prefix = '', seen = new Set<Tensor>()): Generator<[string, Tensor]> {
    this.checkFieldsRegistered();
    for (const [name, p] of this.ownParams) {
      if (seen.has(p)) continue;
      seen.add(p);
      yield [prefix + name, p];
    }
    for (const [name, child] of this.childModules) yield* child.namedParameters(`${prefix}${name}.`, seen);
  }

  /** Buffers by dotted name (`h.0.attn.c_attn.weight_mask`), in module order; like parameters, a buffer several paths reach (shared blocks) once, under the first. */
  *namedBuffers(prefix = '', seen = new Set<Tensor>()): Generator<[string, Tensor]> {
    for (const [name, b] of this.ownBuffers) {
      if (seen.has(b)) continue;
      seen.add(b);
      yield [prefix + name, b];
    }
    for (const [name, child] of this.childModules) yield* child.namedBuffers(`${prefix}${name}.`, seen);
  }

  /** This module (named '') and every descendant by dotted path (`h.0.attn.c_attn`); one registered under two paths, under each (PyTorch's named_modules lists it once). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ''), this];
    for (const [name, child] of this.childModules) yield* child.namedModules(`${prefix}${name}.`);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  /** The parameters that require grad, by name: what an optimizer and gradient clipping take (frozen ones have no gradient). */
  *namedTrainableParameters(): Generator<[string, Tensor]> {
    for (const entry of this.namedParameters()) if (entry[1].requiresGrad) yield entry;
  }

  /** The parameters that require grad (PyTorch's `filter(lambda p: p.requires_grad, model.parameters())`). */
  trainableParameters(): Tensor[] {
    return [...this.namedTrainableParameters()].map(([, p]) => p);
  }

  /**
   * Sets requiresGrad on every parameter of this module and its descendants (PyTorch's
   * Module.requires_grad_): false freezes them, so that no gradient is computed or kept for them and
   * trainableParameters() leaves them out. Constants (int8 weights and their scales) stay untrained.
   */
  requiresGrad_(on = true): this {
    checkBoolean('Module.requiresGrad_', 'on', on);
    for (const m of new Set(this.modules())) {
      for (const p of m.ownParams.values()) if (!m.ownConstants.has(p)) p.requiresGrad_(on);
    }
    return this;
  }

  *modules(): Generator<Module> {
    this.checkFieldsRegistered();
    yield this;
    for (const child of this.childModules.values()) yield* child.modules();
  }

  train(on = true): this {
    checkBoolean('Module.train', 'on', on); // train('no') would set a truthy string: dropout on
    for (const m of this.modules()) m.training = on;
    modeChosen(this, on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter's .grad and sets it to null, as AdamW.zeroGrad (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Parameter values by name (the tensors themselves; read them with toArray()): the parameters
   * only, each once under its first name. PyTorch's state_dict also holds the buffers, and a tied
   * parameter under every name it has (GPT-2's lm_head.weight beside transformer.wte.weight).
   */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Loads values by name; every parameter must be present with its exact shape (strict, as
   * PyTorch's strict=True). Each parameter gets a new storage (as p.data = ...), not a copy into its
   * own as PyTorch's copy_: a detach() or view of it taken before keeps the old values, and so does a
   * backward still pending from a forward before the load (PyTorch refuses that one).
   */
  loadStateDict(state: Map<string, TensorData> | Record<string, TensorData>): void {
    if (state === null || typeof state !== 'object' || state instanceof Promise) {
      throw new TypeError(`loadStateDict: argument 'state' must be a Map or an object of { shape, data } by name, got ${describeValue(state)}`);
    }
    if (!(state instanceof Map) && (state as { state?: unknown }).state instanceof Map) {
      throw new TypeError(`loadStateDict: argument 'state' is what stateDictFromSafetensors returns ({ state, metadata }): pass its .state`);
    }
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const params = this.stateDict();
    const missing = [...params.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !params.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(
        `loadStateDict: ${missing.length ? `missing ${missing.join(', ')}` : ''}${missing.length && unexpected.length ? '; ' : ''}${
          unexpected.length ? `unexpected ${unexpected.join(', ')}` : ''
        }`,
      );
    }
    // all checked before any is loaded, so that a refused state dict leaves every parameter as it was
    for (const [name, p] of params) checkStateEntry(name, entries.get(name), p);
    for (const [name, p] of params) loadValues(entries.get(name)!, p);
    for (const m of new Set(this.modules())) m.afterLoad();
  }

  /**
   * Restores what this module's parameters must satisfy once loadStateDict has replaced them (a
   * pruned Linear zeroes its masked weights, as PyTorch's pruned forward, weight_orig × weight_mask, ignores them).
   */
  protected afterLoad(): void {}

  /**
   * For a constructor's catch: frees what this module registered before `e` was thrown and returns
   * `e` to rethrow, so that a constructor that throws (a weight past the adapter's largest buffer)
   * leaves nothing allocated.
   */
  protected abandon(e: unknown): unknown {
    this.dispose();
    return e;
  }

  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Frees every parameter (and its gradient) and buffer. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
    for (const [, b] of this.namedBuffers()) b.dispose();
  }
}

/** Children numbered 0..n-1 (`h.0`, `h.1`, ...). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    const bad = Array.isArray(items) ? items.findIndex((m) => !(m instanceof Module)) : -1;
    if (!Array.isArray(items) || bad >= 0) {
      throw new TypeError(`ModuleList: argument 'items' must be an array of Modules, got ${describeValue(bad >= 0 ? items[bad] : items)}${bad >= 0 ? ` at [${bad}]` : ''}`);
    }
    this.items = items.map((m, i) => this.module(String(i), m));
  }

  /** How many modules it holds, as PyTorch's len(module_list). */
  get length(): number {
    return this.items.length;
  }

  /** The module at `index` (negative counts from the end, as PyTorch's module_list[-1]), or undefined past either end, as Array's at(). */
  at(index: number): M | undefined {
    return this.items.at(index);
  }

  /** Its modules in order: `for (const block of list)`, as PyTorch's iteration over a ModuleList. */
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
