// int8 storage in WGSL: an int8 tensor's bytes lie in element order, four to a u32 word,
// little-endian (element e is byte e % 4 of word e / 4), exactly as a safetensors I8 tensor's bytes
// land in a buffer. WGSL has no 8-bit types, so kernels bind such a tensor as array<u32> and
// sign-extend bytes out of words in registers with these helpers.
export const INT8_WGSL = /* wgsl */ `
// byte j (0..3) of a word of four int8, sign-extended
fn i8_at(word: u32, j: u32) -> f32 { return f32(bitcast<i32>(word << (24u - 8u * j)) >> 24u); }
// all four bytes of a word, in element order
fn i8x4(word: u32) -> vec4f { return vec4f(bitcast<vec4i>(vec4u(word) << vec4u(24u, 16u, 8u, 0u)) >> vec4u(24u)); }`;
