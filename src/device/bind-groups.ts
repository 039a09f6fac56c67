// Bind groups cached by what they bind. Each bind group holds a descriptor set until its JS object
// is garbage-collected and then (in Node) until Dawn's event-loop callbacks see its work done;
// meanwhile they pile up (lavapipe maps memory for each set and the process dies near 65k). Pooled
// buffers come back step after step, so a loop binds the same few combinations and almost every
// dispatch is a hit. `outstanding` counts the groups not yet collected, for the device to ration
// new ones. The uniform slot is a dynamic offset, not part of the key.
//
// The least recently used entries (to within capacity/4 finds) go past `capacity`; every entry
// that binds a resource goes when the resource is destroyed, so a cached group never outlives a
// buffer it names.
/** A byte range of a buffer bound as the whole of a binding (offset aligned as the adapter requires). */
export interface BufferWindow {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}
export type Resource = GPUBuffer | GPUTexture | BufferWindow;

const isWindow = (r: Resource): r is BufferWindow => 'offset' in r && 'buffer' in r;
/** The GPU object a resource lives in (what gets destroyed). */
const objectOf = (r: Resource): GPUBuffer | GPUTexture => (isWindow(r) ? r.buffer : r);

interface Entry {
  group: GPUBindGroup;
  resources: number[];
  /** The count of finds when the entry last moved to the most recently used end. */
  moved: number;
}

export class BindGroupCache {
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private finds = 0;
  private readonly entries = new Map<string, Entry>(); // insertion order = least recently moved first
  private readonly keysOf = new Map<number, Set<string>>(); // resource id -> keys that bind it
  private readonly views = new WeakMap<GPUTexture, GPUTextureView>();
  /** Bind groups created so far, and how many of them were garbage-collected. */
  created = 0;
  private collected = 0;
  private readonly collection = new FinalizationRegistry<null>(() => this.collected++);

  constructor(
    private readonly gpu: GPUDevice,
    private readonly capacity: number,
  ) {}

  /** The cache key of binding `resources` (then a uniform buffer, if any) with `layoutKey`'s layout. */
  key(layoutKey: object, resources: readonly Resource[], uniform: GPUBuffer | null): string {
    // a loop and `+=`, not map/join: built at every dispatch
    let key = `${this.idOf(layoutKey)}:`;
    for (let i = 0; i < resources.length; i++) {
      const r = resources[i]!;
      if (i) key += ',';
      key += isWindow(r) ? `${this.idOf(r.buffer)}@${r.offset}+${r.size}` : this.idOf(r);
    }
    return uniform ? `${key}:${this.idOf(uniform)}` : key;
  }

  /**
   * The cached group under `key`, now among the most recently used; undefined on a miss. A hit
   * moves to the recent end only if it has not moved in the last capacity/4 finds: a loop's groups
   * stay far from eviction without a Map delete and insert at every dispatch.
   */
  find(key: string): GPUBindGroup | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (++this.finds - hit.moved > this.capacity >> 2) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      hit.moved = this.finds;
    }
    return hit.group;
  }

  /** Creates and caches the group under `key`: `resources` in binding order, then the uniform. */
  create(key: string, layout: GPUBindGroupLayout, label: string, resources: readonly Resource[], uniform: GPUBufferBinding | null): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = resources.map((r, binding) => ({
      binding,
      resource: isWindow(r) ? { buffer: r.buffer, offset: r.offset, size: r.size } : 'createView' in r ? this.viewOf(r) : { buffer: r },
    }));
    if (uniform) entries.push({ binding: resources.length, resource: uniform });
    const group = this.gpu.createBindGroup({ label, layout, entries });
    this.created++;
    this.collection.register(group, null);
    const ids = resources.map((r) => this.idOf(objectOf(r)));
    this.entries.set(key, { group, resources: ids, moved: this.finds });
    for (const id of ids) {
      let keys = this.keysOf.get(id);
      if (!keys) this.keysOf.set(id, (keys = new Set()));
      keys.add(key);
    }
    if (this.entries.size > this.capacity) this.evict(this.entries.keys().next().value!);
    return group;
  }

  /** Drops every bind group that binds `resource` (call before destroying it). */
  forget(resource: Resource): void {
    const id = this.ids.get(resource);
    if (id === undefined) return;
    for (const key of [...(this.keysOf.get(id) ?? [])]) this.evict(key);
    this.keysOf.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bind groups created and not yet garbage-collected (each may still hold a descriptor set). */
  get outstanding(): number {
    return this.created - this.collected;
  }

  private evict(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    for (const id of entry.resources) {
      const keys = this.keysOf.get(id);
      keys?.delete(key);
      if (keys?.size === 0) this.keysOf.delete(id);
    }
  }

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  private viewOf(texture: GPUTexture): GPUTextureView {
    let view = this.views.get(texture);
    if (!view) this.views.set(texture, (view = texture.createView()));
    return view;
  }
}
