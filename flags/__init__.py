"""absl flag definitions grouped by concern; each module defines its flags only inside
`define_*_flags()` functions, so importing never defines a flag."""
