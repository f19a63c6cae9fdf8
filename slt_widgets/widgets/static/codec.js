// Binary array codec shared by every slt_widgets ES module; mirrors widgets/_codec.py.
// Python sends {view: memoryview, dtype: "float32", shape: [P, H, W]}; the widget manager hands the
// memoryview to JavaScript as a DataView. Arrays are C-ordered and little-endian.

/** dtype name (numpy spelling) -> TypedArray constructor. int64 is left out on purpose: Python
 * converts integer arrays to int32 before sending, so JavaScript never sees BigInt. */
export const DTYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
};

/**
 * Decode a wire value into {data, shape, dtype}.
 * @param {{view: DataView|ArrayBuffer|ArrayBufferView, dtype: string, shape: number[]} | null} value
 * @returns {{data: ArrayLike<number>, shape: number[], dtype: string} | null} data has prod(shape) items
 */
export function arrayFromJson(value) {
  if (value === null || value === undefined) return null;
  const Ctor = DTYPES[value.dtype];
  if (!Ctor) throw new TypeError(`slt codec: unsupported dtype ${JSON.stringify(value.dtype)}`);
  const shape = Array.from(value.shape ?? [], Number);
  const size = shape.reduce((a, b) => a * b, 1);
  let view = value.view;
  if (view instanceof ArrayBuffer) view = new DataView(view);
  if (!view || typeof view.byteLength !== "number" || !view.buffer) {
    throw new TypeError("slt codec: value.view must be a DataView, ArrayBuffer or typed array");
  }
  if (view.byteLength !== size * Ctor.BYTES_PER_ELEMENT) {
    throw new RangeError(`slt codec: ${view.byteLength} bytes do not hold a ${value.dtype} array of shape [${shape}]`);
  }
  // A typed array must start at a multiple of its element size; copy when the buffer slice is not.
  const data = view.byteOffset % Ctor.BYTES_PER_ELEMENT === 0
    ? new Ctor(view.buffer, view.byteOffset, size)
    : new Ctor(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
  return { data, shape, dtype: value.dtype };
}

/**
 * Encode a typed array for the wire (the inverse of arrayFromJson).
 * @param {ArrayBufferView} data  a TypedArray with prod(shape) items
 * @param {number[]} shape
 * @returns {{view: DataView, dtype: string, shape: number[]}}
 */
export function arrayToJson(data, shape) {
  const dtype = Object.keys(DTYPES).find((k) => data instanceof DTYPES[k]);
  if (!dtype) throw new TypeError("slt codec: data must be a typed array listed in DTYPES");
  return { view: new DataView(data.buffer, data.byteOffset, data.byteLength), dtype, shape: [...shape] };
}
