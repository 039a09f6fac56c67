// Module as a PyTorch user writes one: what registration lists (names, order, train/eval), and the
// fields it would leave out. PyTorch registers a module or parameter on assignment; here
// this.module()/this.param() do, and a field assigned without them is refused when the tree is walked.
import { beforeAll, describe, expect, it } from 'vitest';
import { Embedding, Generator, LayerNorm, Linear, Module, ModuleList, scope, tensor, type Tensor } from '../src/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

const rng = new Generator(0);

describe('Module', () => {
  it("lists parameters by dotted name, a module's own first, then its children in registration order; train and eval reach every module", () => {
    class Net extends Module {
      readonly blocks = this.module('blocks', new ModuleList([new Linear(2, 3, { rng }), new Linear(3, 1, { rng, bias: false })]));
      readonly scale = this.param('scale', tensor([1]));
      readonly norm = this.module('norm', new LayerNorm(1));
    }
    const net = new Net();
    expect([...net.namedParameters()].map(([n, p]) => `${n} ${p.describe()}`)).toEqual([
      'scale float32[1]', 'blocks.0.weight float32[3, 2]', 'blocks.0.bias float32[3]', 'blocks.1.weight float32[1, 3]', 'norm.weight float32[1]', 'norm.bias float32[1]',
    ]);
    expect([...net.eval().modules()].map((m) => m.training)).toEqual([false, false, false, false, false]);
    expect([...net.train().modules()].every((m) => m.training)).toBe(true);
    net.dispose();
  });

  // `this.fc = new Linear(...)` (registered by PyTorch's __setattr__) was left out of parameters(),
  // stateDict() and train()/eval() without a word: the optimizer never updated it, checkpoints lacked it
  it('refuses a field holding a module or a trainable tensor that was not registered, naming it', () => {
    class Forgot extends Module {
      readonly fc: Linear = new Linear(2, 2, { rng });
    }
    class ForgotInList extends Module {
      readonly layers: Linear[] = [this.module('a', new Linear(2, 2, { rng })), new Linear(2, 2, { rng })];
    }
    class ForgotParam extends Module {
      readonly w: Tensor = tensor([1, 2]).requiresGrad_();
      readonly offset: Tensor = tensor([3]); // not trained: a field may hold it
    }
    const [a, b, c] = [new Forgot(), new ForgotInList(), new ForgotParam()];
    expect(() => a.parameters()).toThrow(/^Module: Forgot\.fc holds a Linear that is not registered; assign it with this\.module\('fc', \.\.\.\), so that it is trained, saved and switched by train\(\)\/eval\(\)$/);
    expect(() => b.eval()).toThrow(/^Module: ForgotInList\.layers\[1\] holds a Linear that is not registered; hold the list in this\.module\('layers', new ModuleList\(\[\.\.\.\]\)\), so that it is trained, saved and switched by train\(\)\/eval\(\)$/);
    expect(() => c.stateDict()).toThrow(/^Module: ForgotParam\.w holds a float32\[2\] tensor that requires grad but is not registered; assign it with this\.param\('w', \.\.\.\), so that it is trained and saved$/);
    a.fc.dispose();
    b.layers.forEach((l) => l.dispose());
    c.w.dispose();
    c.offset.dispose();
  });

  // weight tying by reference (PyTorch's self.head = self.emb.weight) was refused as 'holds a
  // float32[5, 4] tensor that requires grad but is not registered', though the child trains and saves
  // it; a field naming a layer of a list, as 'holds a Linear that is not registered'
  it("takes a field holding a parameter or module a descendant registered (weight tying), listed once under its registered name", () => {
    class Tied extends Module {
      readonly emb = this.module('emb', new Embedding(5, 4, { rng }));
      readonly head: Tensor = this.emb.weight; // the LM head is the embedding's table
      readonly layers = this.module('layers', new ModuleList([new Linear(4, 4, { rng, bias: false })]));
      readonly first: Tensor = this.layers.items[0]!.weight; // a grandchild's
      readonly last: Linear = this.layers.items.at(-1)!; // a module of a list, by a shorter name
    }
    const net = new Tied();
    expect([...net.namedParameters()].map(([n, p]) => `${n} ${p.describe()}`)).toEqual(['emb.weight float32[5, 4]', 'layers.0.weight float32[4, 4]']);
    expect([...net.eval().modules()].every((m) => !m.training)).toBe(true);
    net.dispose();
  });

  // PyTorch's len(layers), `for layer in layers` and layers[-1]: a list held only `.items`, so
  // `layers.length` was undefined and `for (const l of layers)` threw 'layers is not iterable'
  it('a ModuleList has a length, iterates its modules in order and gives one by index (negative from the end)', () => {
    const [a, b, c] = [new Linear(2, 3, { rng }), new Linear(3, 3, { rng }), new Linear(3, 1, { rng })];
    const list = new ModuleList([a, b, c]);
    expect(list.length).toBe(3);
    expect([...list]).toEqual([a, b, c]);
    const seen: Linear[] = [];
    for (const layer of list) seen.push(layer); // typed Linear: its forward is there without a cast
    expect(seen.map((l) => l.outFeatures)).toEqual([3, 3, 1]);
    expect([list.at(0), list.at(-1), list.at(3)]).toEqual([a, c, undefined]);
    expect(new ModuleList([]).length).toBe(0);
    list.dispose();
  });

  // a parameter named 'a.weight' beside a child 'a' with its own 'weight' was listed twice under one
  // name: stateDict() kept one of the two, so the other was neither saved nor loaded
  it("refuses a parameter, constant, buffer or module name that is empty or holds a '.', as PyTorch does", () => {
    const named = (register: (m: Module) => void) => {
      class Net extends Module {
        constructor() {
          super();
          register(this);
        }
      }
      return () => new Net();
    };
    type Registrar = { param(n: string, t: Tensor): Tensor; constant(n: string, t: Tensor): Tensor; setBuffer(n: string, t: Tensor): void; module(n: string, m: Module): Module };
    const r = (m: Module) => m as unknown as Registrar;
    const t = tensor([1]);
    const rule = "must be a non-empty string without '\\.' \\(dots join the names of nested modules\\), got";
    expect(named((m) => r(m).param('a.weight', t))).toThrow(new RegExp(`^Module: parameter name ${rule} 'a\\.weight'$`));
    expect(named((m) => r(m).constant('', t))).toThrow(new RegExp(`^Module: constant name ${rule} ''$`));
    expect(named((m) => r(m).setBuffer('mask.0', t))).toThrow(new RegExp(`^Module: buffer name ${rule} 'mask\\.0'$`));
    const ln = new LayerNorm(1);
    expect(named((m) => r(m).module('a.b', ln))).toThrow(new RegExp(`^Module: module name ${rule} 'a\\.b'$`));
    expect(named((m) => r(m).param(3 as unknown as string, t))).toThrow(new RegExp(`^Module: parameter name ${rule} number 3$`));
    t.dispose();
    ln.dispose();
  });

  // the ops' errors blamed the weight: 'linear: weight float32[2, 3] must be [N, K] for input float32[1, 2] (K = 2)'
  it('a layer given an input whose last axis is not its width says so, naming the layer', () =>
    scope(() => {
      const lin = new Linear(3, 2, { rng });
      const fused = new Linear(3, 2, { rng, bias: false }); // its forward is project's product alone
      const norm = new LayerNorm(3);
      const x = tensor([[1, 2]]);
      expect(() => lin.forward(x)).toThrow(/^Linear\.forward: input float32\[1, 2\] must end in inFeatures 3$/);
      expect(() => fused.forward(x)).toThrow(/^Linear\.forward: input float32\[1, 2\] must end in inFeatures 3$/);
      expect(() => norm.forward(x)).toThrow(/^LayerNorm\.forward: input float32\[1, 2\] must end in dim 3$/);
      expect(() => lin.forward([1, 2, 3] as never)).toThrow(/^Linear\.forward: argument 'input' must be a Tensor, got array \[1, 2, 3\]$/);
      for (const m of [lin, fused, norm]) m.dispose();
    }));

  // an array or typed array failed as 't.requiresGrad_ is not a function'; a plain object taken as a
  // module failed at every later walk ('yield* ... is not iterable'), dispose() included
  it('refuses to register a parameter, constant or buffer that is not a Tensor, or a module that is not a Module, naming it', () => {
    type Registrar = { param(n: string, t: unknown): void; constant(n: string, t: unknown): void; setBuffer(n: string, t: unknown): void; module(n: string, m: unknown): void };
    const build = (register: (r: Registrar) => void) => () =>
      new (class Net extends Module {
        constructor() {
          super();
          register(this as unknown as Registrar);
        }
      })();
    expect(build((r) => r.param('w', [1, 2]))).toThrow(/^Module: parameter 'w' must be a Tensor, got array \[1, 2\]$/);
    expect(build((r) => r.constant('w', new Float32Array(2)))).toThrow(/^Module: constant 'w' must be a Tensor, got an object \(Float32Array\)$/);
    expect(build((r) => r.setBuffer('mask', [1]))).toThrow(/^Module: buffer 'mask' must be a Tensor or null, got array \[1\]$/);
    expect(build((r) => r.module('fc', {}))).toThrow(/^Module: module 'fc' must be a Module, got an object \(Object\)$/);
  });

  // a parameter computed from one that requires grad (PyTorch's nn.Parameter(teacher.weight * 1) is a
  // new leaf) was registered as it was: backward sent its gradient on to the teacher, its own .grad
  // stayed null and AdamW never moved it, without a word
  it('refuses a parameter computed by an op from tensors that require grad, which would never get a .grad', () =>
    scope(async () => {
      const teacher = new Linear(2, 2, { rng });
      const build = (w: () => Tensor) => () =>
        new (class Student extends Module {
          readonly w = this.param('w', w());
        })();
      expect(build(() => teacher.weight.mul(2))).toThrow(
        /^Module: parameter 'w' float32\[2, 2\] was computed by 'mul' from tensors that require grad: it would never get a \.grad of its own; register a leaf \(\.detach\(\) of it\)$/,
      );
      const student = build(() => teacher.weight.mul(2).detach())();
      student.w.mul(tensor([[1, 2], [3, 4]])).sum().backward(); // d/dw sum(w * c) = c
      expect(Array.from(await student.w.grad!.toArray())).toEqual([1, 2, 3, 4]);
      expect(teacher.weight.grad).toBeNull();
      teacher.dispose();
      student.dispose();
    }));
});
