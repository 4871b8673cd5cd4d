"""C++ pieces shared by more than one native kernel source (``nn/*_cpu_source.py``), spliced
into their source strings so that each library still builds from one self-contained file."""

# fp32 -> bf16, rounding to nearest even, a NaN kept a (quiet) NaN: what torch's .to(bfloat16) does.
FLOAT_TO_BF16 = r"""
inline uint16_t float_to_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
"""
